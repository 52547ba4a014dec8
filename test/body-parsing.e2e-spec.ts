import { NestExpressApplication } from '@nestjs/platform-express';
import { request as httpRequest } from 'node:http';
import { AddressInfo } from 'node:net';
import type { Worker } from 'node:worker_threads';
import request from 'supertest';
import { JsonParsePool } from '../src/edge/body/json-parse-pool';
import { closeApp, createTestApp } from './utils/test-app';

/**
 * How bodies are read, route by route: JSON whatever the Content-Type (or none), as TF Serving
 * reads them and as `curl -d` sends them; multipart left to /predict's own parser and refused
 * elsewhere; JSON errors that say where and what.
 */
describe('Body parsing scoped by route (e2e)', () => {
  let app: NestExpressApplication;
  const post = (path: string) => request(app.getHttpServer()).post(path);
  const iris = JSON.stringify({ model: 'iris', instances: [[5.1, 3.5, 1.4, 0.2]] });
  const v2 = JSON.stringify({
    inputs: [{ name: 'features', shape: [1, 4], datatype: 'FP32', data: [5.1, 3.5, 1.4, 0.2] }],
  });

  /** A POST with exactly these headers (Host and Content-Length aside); resolves with the status. */
  const rawPost = (path: string, body: string, headers: Record<string, string> = {}) =>
    new Promise<{ status: number; headers: Record<string, string> }>((resolve, reject) => {
      const { port } = app.getHttpServer().address() as AddressInfo;
      const req = httpRequest({ host: '127.0.0.1', port, path, method: 'POST', headers }, (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers }));
      });
      req.on('error', reject);
      req.end(body);
    });

  beforeAll(async () => {
    app = await createTestApp();
    await app.listen(0, '127.0.0.1');
  });
  afterAll(() => closeApp(app));

  describe('JSON whatever the Content-Type', () => {
    const routes: [string, string][] = [
      ['/predict', iris],
      ['/v1/models/iris:predict', JSON.stringify({ instances: [[5.1, 3.5, 1.4, 0.2]] })],
      ['/v2/models/iris/infer', v2],
    ];
    const types = [
      'application/x-www-form-urlencoded', // what curl -d sends
      'text/plain',
      'application/octet-stream',
      'application/json; charset=utf-8',
    ];

    it.each(routes)(
      'should parse a body as JSON on %s under any Content-Type',
      async (path, body) => {
        for (const type of types) {
          const res = await post(path).set('Content-Type', type).send(body);
          expect([type, res.status]).toEqual([type, 200]);
        }
      },
    );

    it.each(routes)('should parse a body without Content-Type on %s', async (path, body) => {
      // node:http, so that no client library adds a Content-Type of its own.
      const { status } = await rawPost(path, body);
      expect(status).toBe(200);
    });

    it('should refuse a charset other than UTF-8 with a 415 that says so', async () => {
      const res = await post('/predict')
        .set('Content-Type', 'text/plain; charset=latin1')
        .send(iris);
      expect(res.status).toBe(415);
      expect(res.body.message).toBe('Charset LATIN1 is not supported; send UTF-8 JSON');
    });
  });

  describe('multipart/form-data', () => {
    const multipart =
      '--x\r\nContent-Disposition: form-data; name="model"\r\n\r\niris\r\n--x--\r\n';

    it('should leave multipart to /predict (its own parser), never a 415 there', async () => {
      const res = await post('/predict')
        .set('Content-Type', 'multipart/form-data; boundary=x')
        .send(multipart);
      expect(res.status).not.toBe(415);
      expect(res.status).toBeLessThan(500);
    });

    it.each(['/v1/models/iris:predict', '/v2/models/iris/infer'])(
      'should refuse multipart on %s with a 415 naming what is accepted',
      async (path) => {
        const res = await post(path)
          .set('Content-Type', 'multipart/form-data; boundary=x')
          .send(multipart)
          .expect(415);
        expect(res.body.error).toMatch(
          new RegExp(
            `^multipart/form-data is not accepted on ${path}; send a JSON object \\(any Content-Type but multipart\\), or on V2 infer a JSON header \\+ binary data with inference-header-content-length`,
          ),
        );
      },
    );
  });

  describe('JSON errors say where and what', () => {
    const malformed = async (body: string) => {
      const res = await post('/predict').set('Content-Type', 'application/json').send(body);
      expect(res.status).toBe(400);
      return res.body.message as string;
    };

    it('should name a missing bracket as the end of the body, without a NaN hint', async () => {
      const message = await malformed('{"model": "iris", "instances": [[1, 2, 3, 4]');
      expect(message).toMatch(
        /^Malformed JSON body: .*(end|Expected).*\(the body ends at byte 44 before the JSON is complete\)/,
      );
      expect(message).not.toMatch(/NaN|Infinity/);
    });

    it("should quote the parser's message for a stray token", async () => {
      const message = await malformed('{"model": "iris", "instances": [[1, 2 3, 4]]}');
      expect(message).toMatch(/^Malformed JSON body: .*position 38/);
      expect(message).not.toMatch(/NaN/);
    });

    it('should add the NaN/Infinity hint only when the body holds such a literal', async () => {
      expect(await malformed('{"instances": [[NaN, 1]]}')).toMatch(
        /NaN and Infinity are not valid JSON numbers/,
      );
      expect(await malformed('{"instances": [[-Infinity]]}')).toMatch(
        /NaN and Infinity are not valid JSON numbers/,
      );
      expect(await malformed('{"note": "NaN", "instances": [[1,]]}')).not.toMatch(/NaN and/);
    });

    it.each([
      ['null', 'null'],
      ['[1, 2]', 'an array'],
      ['42', 'a number'],
      ['"iris"', 'a string'],
      ['true', 'a boolean'],
    ])('should tell a body of %s that it must be a JSON object', async (body, what) => {
      expect(await malformed(body)).toBe(`The request body must be a JSON object, got ${what}`);
      const v2res = await post('/v2/models/iris/infer').type('json').send(body).expect(400);
      expect(v2res.body).toEqual({ error: `The request body must be a JSON object, got ${what}` });
    });
  });
});

/**
 * Bodies of 16 KiB or more are parsed on a parse thread (JSON_PARSE_THREADS) and their numbers
 * packed: every protocol must answer them byte for byte as when the main thread parses them.
 */
describe('Large JSON bodies parsed off the main thread (e2e)', () => {
  let offThread: NestExpressApplication;
  let here: NestExpressApplication;
  const rows = Array.from({ length: 1000 }, (_, i) => [5.1 + i / 1000, 3.5, 1.4, 0.2 + i / 5000]);
  const bad = rows.map((row, i) => (i === 700 ? [row[0], 'x', 1, 1] : row));
  const cases: [string, string, unknown][] = [
    ['/predict rows', '/predict', { model: 'iris', instances: rows }],
    ['/predict, a bad value', '/predict', { model: 'iris', instances: bad }],
    ['/v1 rows', '/v1/models/iris:predict', { instances: rows }],
    ['/v1 columns', '/v1/models/iris:predict', { inputs: rows }],
    [
      '/v1 rows keyed by input',
      '/v1/models/iris:predict',
      { instances: rows.map((r) => ({ features: r })) },
    ],
    ['/v1, one row short', '/v1/models/iris:predict', { instances: [...rows, [1, 2, 3]] }],
    [
      '/v2 flat data',
      '/v2/models/iris/infer',
      {
        id: 'a',
        inputs: [{ name: 'features', shape: [1000, 4], datatype: 'FP32', data: rows.flat() }],
      },
    ],
    [
      '/v2 nested data, INT32 declared',
      '/v2/models/iris/infer',
      { id: 'b', inputs: [{ name: 'features', shape: [1000, 4], datatype: 'INT32', data: rows }] },
    ],
  ];

  let pool: JsonParsePool;

  beforeAll(async () => {
    [offThread, here] = await Promise.all([
      createTestApp(),
      createTestApp({ JSON_PARSE_THREADS: '0' }),
    ]);
    pool = offThread.get(JsonParsePool);
    await pool.whenStarted();
  });
  afterAll(() => Promise.all([closeApp(offThread), closeApp(here)]));

  it.each(cases)(
    'should answer %s exactly as a parse on the main thread',
    async (_, path, body) => {
      const text = JSON.stringify(body);
      expect(text.length).toBeGreaterThan(16 * 1024);
      const before = pool.parsedOffThread;
      const [there, inline] = await Promise.all(
        [offThread, here].map((app) =>
          request(app.getHttpServer()).post(path).type('json').send(text),
        ),
      );
      expect(pool.parsedOffThread).toBe(before + 1);
      expect([there.status, there.text]).toEqual([inline.status, inline.text]);
    },
  );

  it('should end the parse threads with the app, and parse here afterwards', async () => {
    const app = await createTestApp();
    const own = app.get(JsonParsePool);
    await own.whenStarted();
    const threads = (own as unknown as { threads: ({ worker: Worker } | undefined)[] }).threads;
    const worker = threads[0]!.worker;
    const exited = new Promise((resolve) => worker.once('exit', resolve));
    await closeApp(app);
    await exited;
    const value = await own.parse(Buffer.from(JSON.stringify({ rows })), undefined);
    expect(value).toEqual({ rows });
    expect(own.parsedOffThread).toBe(0);
  });
});
