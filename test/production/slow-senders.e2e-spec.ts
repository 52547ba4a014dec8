import { NestExpressApplication } from '@nestjs/platform-express';
import { readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { connect, Socket } from 'node:net';
import { join } from 'node:path';
import request from 'supertest';
import { closeApp, createTestApp } from '../utils/test-app';
import { IRIS_BODY, listenOnLoopback, metricValue, RawResponse, waitFor } from './utils/http';

const PNG_7 = readFileSync(join(__dirname, '..', 'fixtures', 'digits', '7.png'));
const BOUNDARY = 'slow-senders-boundary';

interface Body {
  path: string;
  headers: Record<string, string>;
  bytes: Buffer;
}

/** The three ways a body reaches a model: JSON, multipart (an image) and V2 binary tensors. */
const BODIES: Record<'json' | 'multipart' | 'v2binary', Body> = {
  json: {
    path: '/predict',
    headers: { 'content-type': 'application/json' },
    bytes: Buffer.from(IRIS_BODY),
  },
  multipart: {
    path: '/predict',
    headers: { 'content-type': `multipart/form-data; boundary=${BOUNDARY}` },
    bytes: Buffer.concat([
      Buffer.from(
        `--${BOUNDARY}\r\nContent-Disposition: form-data; name="model"\r\n\r\ndigits\r\n` +
          `--${BOUNDARY}\r\nContent-Disposition: form-data; name="image"; filename="7.png"\r\nContent-Type: image/png\r\n\r\n`,
      ),
      PNG_7,
      Buffer.from(`\r\n--${BOUNDARY}--\r\n`),
    ]),
  },
  v2binary: (() => {
    const header = JSON.stringify({
      inputs: [
        { name: 'features', shape: [1, 4], datatype: 'FP32', parameters: { binary_data_size: 16 } },
      ],
    });
    return {
      path: '/v2/models/iris/infer',
      headers: { 'inference-header-content-length': String(Buffer.byteLength(header)) },
      bytes: Buffer.concat([
        Buffer.from(header),
        Buffer.from(new Float32Array([5.1, 3.5, 1.4, 0.2]).buffer),
      ]),
    };
  })(),
};

/**
 * A real upload that sends its headers and the first `sent` bytes of its body, then waits:
 * finish() sends the rest, trickle() one more byte, abort() closes the connection.
 */
function slowUpload(baseUrl: string, body: Body, sent = Math.floor(body.bytes.length / 2)) {
  const url = new URL(body.path, baseUrl);
  let at = sent;
  const req = httpRequest({
    host: url.hostname,
    port: url.port,
    path: url.pathname,
    method: 'POST',
    agent: false,
    headers: { ...body.headers, 'content-length': body.bytes.length },
  });
  const response = new Promise<RawResponse>((resolve, reject) => {
    req.on('response', (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }),
      );
      res.on('error', reject);
    });
    req.on('error', reject);
  });
  response.catch(() => undefined);
  const closed = new Promise<void>((resolve) => req.on('close', resolve));
  req.flushHeaders();
  if (sent > 0) req.write(body.bytes.subarray(0, sent));
  return {
    response,
    closed,
    trickle: () => req.write(body.bytes.subarray(at, ++at)),
    finish: () => {
      req.end(body.bytes.subarray(at));
      return response;
    },
    abort: () => req.destroy(),
  };
}
type SlowUpload = ReturnType<typeof slowUpload>;

/** A whole request at once, answered with its status and parsed JSON. */
async function send(baseUrl: string, body: Body) {
  const res = await fetch(new URL(body.path, baseUrl), {
    method: 'POST',
    headers: body.headers,
    body: body.bytes,
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

async function gauge(app: NestExpressApplication, name: string): Promise<number | undefined> {
  return metricValue((await request(app.getHttpServer()).get('/metrics')).text, name);
}

/** Closes every connection a test opened and waits until each is closed. */
async function closeAll(uploads: SlowUpload[]): Promise<void> {
  uploads.forEach((upload) => upload.abort());
  await Promise.all(uploads.map((upload) => upload.closed));
}

/** 70 slow uploads, a third of each body type. */
function openSlowUploads(baseUrl: string, count = 70): SlowUpload[] {
  const kinds = Object.values(BODIES);
  return Array.from({ length: count }, (_, i) => slowUpload(baseUrl, kinds[i % kinds.length]));
}

describe('Slow senders cost a connection, not a slot (e2e, shipped models)', () => {
  describe('with MAX_INFLIGHT=4 and MAX_UPLOADS=100', () => {
    let app: NestExpressApplication;
    let baseUrl: string;
    let uploads: SlowUpload[] = [];
    beforeAll(async () => {
      // Generous body timeouts: the slow uploads must stay open for the whole test.
      app = await createTestApp({
        MAX_INFLIGHT: '4',
        MAX_UPLOADS: '100',
        BODY_READ_TIMEOUT_MS: '60000',
        REQUEST_TIMEOUT_MS: '60000',
      });
      baseUrl = await listenOnLoopback(app);
    });
    afterAll(async () => {
      await closeAll(uploads);
      await closeApp(app);
    });

    it('should answer normal requests of every body type with 200 while 70 uploads trickle in, then serve the uploads once their bodies arrive', async () => {
      uploads = openSlowUploads(baseUrl);
      await waitFor(async () => (await gauge(app, 'http_uploads_in_progress')) === 70, 10_000);
      expect(await gauge(app, 'http_requests_admitted')).toBe(0);
      await Promise.all(uploads.map((upload) => upload.trickle()));

      for (let round = 0; round < 5; round++) {
        const json = await send(baseUrl, BODIES.json);
        expect(json.status).toBe(200);
        expect((json.body.predictions as { label: string }[])[0].label).toBe('setosa');
        const image = await send(baseUrl, BODIES.multipart);
        expect(image.status).toBe(200);
        expect((image.body.predictions as { label: string }[])[0].label).toBe('7');
        const v2 = await send(baseUrl, BODIES.v2binary);
        expect(v2.status).toBe(200);
        expect(v2.body.model_name).toBe('iris');
      }
      await request(app.getHttpServer()).get('/models').expect(200);
      expect(await gauge(app, 'http_uploads_in_progress')).toBe(70);

      // Uploads that complete are admitted like any request: four at a time here, so finish four.
      const answers = await Promise.all(uploads.slice(0, 4).map((upload) => upload.finish()));
      expect(answers.map((answer) => answer.status)).toEqual([200, 200, 200, 200]);
      expect(await gauge(app, 'http_uploads_in_progress')).toBe(66);
    });
  });

  describe('with MAX_UPLOADS=50', () => {
    let app: NestExpressApplication;
    let baseUrl: string;
    let uploads: SlowUpload[] = [];
    beforeAll(async () => {
      app = await createTestApp({
        MAX_UPLOADS: '50',
        BODY_READ_TIMEOUT_MS: '60000',
        REQUEST_TIMEOUT_MS: '60000',
      });
      baseUrl = await listenOnLoopback(app);
    });
    afterAll(async () => {
      await closeAll(uploads);
      await closeApp(app);
    });

    it('should shed uploads past MAX_UPLOADS with 503 + Retry-After before reading their body, and keep serving bodiless requests', async () => {
      uploads = openSlowUploads(baseUrl, 50);
      await waitFor(async () => (await gauge(app, 'http_uploads_in_progress')) === 50, 10_000);
      // Twenty more announce a body and send none of it: they are answered anyway.
      const extra = Array.from({ length: 20 }, () => slowUpload(baseUrl, BODIES.json, 0));
      uploads.push(...extra);
      const shed = await Promise.all(extra.map((upload) => upload.response));
      for (const res of shed) {
        expect(res.status).toBe(503);
        expect(res.headers['retry-after']).toBe('1');
        expect(res.headers.connection).toBe('close');
        expect(JSON.parse(res.body).message).toMatch(
          /Server busy: 50 request bodies already arriving \(MAX_UPLOADS\); retry after 1 s/,
        );
      }
      await request(app.getHttpServer()).get('/models').expect(200);
      await request(app.getHttpServer()).get('/health/ready').expect(200);

      // Held, not shed: the first fifty are served once their bodies arrive.
      const answers = await Promise.all(uploads.slice(0, 50).map((upload) => upload.finish()));
      expect(answers.every((answer) => answer.status === 200)).toBe(true);
      expect((await send(baseUrl, BODIES.json)).status).toBe(200);
    });
  });

  describe('with BODY_READ_TIMEOUT_MS=1500', () => {
    let app: NestExpressApplication;
    let baseUrl: string;
    const uploads: SlowUpload[] = [];
    beforeAll(async () => {
      app = await createTestApp({ BODY_READ_TIMEOUT_MS: '1500' });
      baseUrl = await listenOnLoopback(app);
    });
    afterAll(async () => {
      await closeAll(uploads);
      await closeApp(app);
    });

    it('should answer 408 and close the connection when the body stops arriving', async () => {
      const started = Date.now();
      const idle = slowUpload(baseUrl, BODIES.multipart);
      uploads.push(idle);
      const res = await idle.response;
      expect(res.status).toBe(408);
      expect(JSON.parse(res.body).message).toMatch(
        /No request body bytes received for 1500 ms \(BODY_READ_TIMEOUT_MS\)/,
      );
      expect(res.headers.connection).toBe('close');
      await idle.closed;
      // Long before REQUEST_TIMEOUT_MS (30 s), the only other clock that could have cut it.
      expect(Date.now() - started).toBeLessThan(15_000);
      expect(await gauge(app, 'http_uploads_in_progress')).toBe(0);
    });

    it('should not cut a body that keeps arriving, however slowly', async () => {
      const slow = slowUpload(baseUrl, BODIES.json, 1);
      uploads.push(slow);
      // One byte every 100 ms for more than twice the idle timeout.
      for (let i = 0; i < 35; i++) {
        slow.trickle();
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      const res = await slow.finish();
      expect(res.status).toBe(200);
    });
  });

  describe('with HEADERS_TIMEOUT_MS=500', () => {
    let app: NestExpressApplication;
    let port: number;
    const sockets: Socket[] = [];
    beforeAll(async () => {
      // BATCH_TIMEOUT_MS holds each request for a second, longer than the headers timeout.
      app = await createTestApp({ HEADERS_TIMEOUT_MS: '500', BATCH_TIMEOUT_MS: '1000' });
      port = Number(new URL(await listenOnLoopback(app)).port);
    });
    afterAll(async () => {
      await Promise.all(
        sockets.map((socket) => {
          const closed = socket.closed || new Promise((resolve) => socket.once('close', resolve));
          socket.destroy();
          return closed;
        }),
      );
      await closeApp(app);
    });

    /** Opens a raw connection, sends `first`, and resolves with what the server sent before closing. */
    function rawConnection(first: string) {
      const socket = connect(port, '127.0.0.1', () => socket.write(first));
      sockets.push(socket);
      let received = '';
      socket.setEncoding('utf8');
      socket.on('data', (chunk: string) => (received += chunk));
      socket.on('error', () => undefined);
      const closed = new Promise<string>((resolve) =>
        socket.once('close', () => resolve(received)),
      );
      return { socket, closed };
    }

    // Node's own check would run every 30 s: these bounds fail if the interval is not shortened.
    it('should answer 408 and close a connection whose headers stop halfway', async () => {
      const started = Date.now();
      const received = await rawConnection('POST /predict HTTP/1.1\r\nHost: x\r\n').closed;
      expect(received).toMatch(/^HTTP\/1\.1 408 /);
      expect(Date.now() - started).toBeLessThan(10_000);
    });

    it('should cut headers that keep trickling in past the timeout', async () => {
      const started = Date.now();
      const { socket, closed } = rawConnection('POST /predict HTTP/1.1\r\nHost: x\r\n');
      const trickle = setInterval(() => socket.write('X-Slow: 1\r\n'), 50);
      const received = await closed;
      clearInterval(trickle);
      expect(received).toMatch(/^HTTP\/1\.1 408 /);
      expect(Date.now() - started).toBeLessThan(10_000);
    });

    it('should answer 408 and close a connection that sends nothing', async () => {
      const started = Date.now();
      expect(await rawConnection('').closed).toMatch(/^HTTP\/1\.1 408 /);
      expect(Date.now() - started).toBeLessThan(10_000);
    });

    it('should not cut a request whose answer takes longer than the headers timeout', async () => {
      const res = await request(app.getHttpServer())
        .post('/predict')
        .send(JSON.parse(IRIS_BODY))
        .expect(200);
      expect(res.body.predictions[0].label).toBe('setosa');
    });
  });
});
