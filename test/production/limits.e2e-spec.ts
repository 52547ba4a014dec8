import { NestExpressApplication } from '@nestjs/platform-express';
import request from 'supertest';
import { closeApp, createTestApp } from '../utils/test-app';
import { IRIS_BODY, listenOnLoopback, metricValue, partialRequest, waitFor } from './utils/http';

const nested = (depth: number) =>
  `{"model":"iris","instances":${'['.repeat(depth)}${']'.repeat(depth)}}`;
const manyNumbers = (count: number) =>
  `{"model":"linear","instances":[${'0,'.repeat(count - 1)}0]}`;

describe('Request limits (e2e, shipped models)', () => {
  describe('with the default configuration', () => {
    let app: NestExpressApplication;
    beforeAll(async () => {
      app = await createTestApp({ MODEL_VERSION_POLICY: 'all' });
    });
    afterAll(() => closeApp(app));

    it('should refuse a 10,000-deep nesting with 400 naming JSON_MAX_DEPTH, in milliseconds', async () => {
      const started = Date.now();
      const res = await request(app.getHttpServer())
        .post('/predict')
        .set('content-type', 'application/json')
        .send(nested(10_000))
        .expect(400);
      expect(Date.now() - started).toBeLessThan(1000);
      expect(res.body.message).toMatch(/nested deeper than 32 levels \(JSON_MAX_DEPTH\)/);
    });

    it('should not count brackets inside strings as nesting', async () => {
      // Brackets inside a string are not nesting: this body is 3 deep, so it reaches the registry.
      const res = await request(app.getHttpServer())
        .post('/predict')
        .send({ model: `${'['.repeat(40)}"\\`, instances: [[5.1, 3.5, 1.4, 0.2]] })
        .expect(404);
      expect(res.body.message).toMatch(/not found/);
    });

    it('should refuse a 10-million-element array with 413 in milliseconds, without parsing it', async () => {
      const body = manyNumbers(10_000_000); // 20 MB, over BODY_LIMIT=10mb
      const rssBefore = process.memoryUsage().rss;
      const started = Date.now();
      const res = await request(app.getHttpServer())
        .post('/predict')
        .set('content-type', 'application/json')
        .send(body)
        .expect(413);
      expect(Date.now() - started).toBeLessThan(2000);
      expect(res.body.message).toMatch(/over the limit of \d+ bytes \(BODY_LIMIT\)/);
      // Parsed, 10 million numbers would take ~80 MB of JS heap on top of the 20 MB string.
      expect(process.memoryUsage().rss - rssBefore).toBeLessThan(150 * 1024 * 1024);
    });

    it('should look model names up in the registry, never as paths', async () => {
      for (const name of [
        '../iris',
        '..%2F..%2Fetc%2Fpasswd',
        'iris/1',
        '/etc/passwd',
        'iris\u0000',
      ]) {
        const res = await request(app.getHttpServer())
          .post('/predict')
          .send({ model: name, instances: [[1, 2, 3, 4]] });
        expect(res.status).toBe(404);
        expect(res.body.message).toMatch(
          /not found; available models: digits, iris, iris-graph, iris-onnx, linear, linear-onnx/,
        );
      }
      await request(app.getHttpServer()).get('/models/..%2F..%2Fpackage.json').expect(404);
    });

    it('should send standard security headers (helmet)', async () => {
      const res = await request(app.getHttpServer()).get('/health/live').expect(200);
      expect(res.headers['x-content-type-options']).toBe('nosniff');
      expect(res.headers['x-frame-options']).toBe('SAMEORIGIN');
      expect(res.headers['content-security-policy']).toMatch(/default-src 'self'/);
      expect(res.headers['content-security-policy']).not.toMatch(/upgrade-insecure-requests/);
      expect(res.headers['x-powered-by']).toBeUndefined();
    });

    it('should send no CORS headers unless CORS_ORIGINS allows an origin', async () => {
      const res = await request(app.getHttpServer())
        .get('/models')
        .set('Origin', 'https://evil.example')
        .expect(200);
      expect(res.headers['access-control-allow-origin']).toBeUndefined();
    });
  });

  describe('with JSON_MAX_ELEMENTS=1000 and a large BODY_LIMIT', () => {
    let app: NestExpressApplication;
    beforeAll(async () => {
      app = await createTestApp({
        JSON_MAX_ELEMENTS: '1000',
        BODY_LIMIT: '100mb',
        MAX_BATCH: '100000',
      });
    });
    afterAll(() => closeApp(app));

    it('should refuse a body over the element limit with 413 naming JSON_MAX_ELEMENTS', async () => {
      const res = await request(app.getHttpServer())
        .post('/predict')
        .set('content-type', 'application/json')
        .send(manyNumbers(5000))
        .expect(413);
      expect(res.body.message).toMatch(/more than 1000 values \(JSON_MAX_ELEMENTS\)/);
    });

    it('should refuse 10 million elements under a 100 MB body limit in bounded time and memory', async () => {
      const body = manyNumbers(10_000_000);
      const rssBefore = process.memoryUsage().rss;
      const started = Date.now();
      await request(app.getHttpServer())
        .post('/predict')
        .set('content-type', 'application/json')
        .send(body)
        .expect(413);
      expect(Date.now() - started).toBeLessThan(3000);
      expect(process.memoryUsage().rss - rssBefore).toBeLessThan(150 * 1024 * 1024);
    });

    it('should still serve a body under the limit', async () => {
      await request(app.getHttpServer())
        .post('/predict')
        .send({ model: 'linear', instances: [[1], [2]] })
        .expect(200);
    });
  });

  describe('with MAX_INFLIGHT=2 (load shedding)', () => {
    let app: NestExpressApplication;
    let baseUrl: string;
    beforeAll(async () => {
      // BATCH_TIMEOUT_MS holds a lone request 8 s waiting for a fuller batch: two such requests
      // keep MAX_INFLIGHT full while the test runs (with a wide margin on a busy machine).
      app = await createTestApp({ MAX_INFLIGHT: '2', BATCH_TIMEOUT_MS: '8000' });
      baseUrl = await listenOnLoopback(app);
    });
    afterAll(() => closeApp(app));

    const gauge = async (name: string) =>
      metricValue((await request(app.getHttpServer()).get('/metrics')).text, name);

    it('should answer 503 with Retry-After past MAX_INFLIGHT once the body is in, let uploads wait, and serve again when load drops', async () => {
      const upload = partialRequest(baseUrl, '/predict', IRIS_BODY);
      const held = [
        request(app.getHttpServer()).post('/predict').send(JSON.parse(IRIS_BODY)),
        request(app.getHttpServer()).post('/predict').send(JSON.parse(IRIS_BODY)),
      ].map((test) => test.then((res) => res));
      await waitFor(async () => (await gauge('http_requests_admitted')) === 2);
      // An upload in progress holds no inference slot.
      expect(await gauge('http_uploads_in_progress')).toBe(1);

      const started = Date.now();
      const shed = await request(app.getHttpServer()).post('/predict').send(JSON.parse(IRIS_BODY));
      expect(Date.now() - started).toBeLessThan(2000);
      expect(shed.status).toBe(503);
      expect(shed.headers['retry-after']).toBe('1');
      expect(shed.headers['x-request-id']).toBeDefined();
      expect(shed.body.message).toMatch(/2 requests already in flight \(MAX_INFLIGHT\)/);
      // Probes are never shed.
      await request(app.getHttpServer()).get('/health/ready').expect(200);
      // The upload is admitted only once its body is in: MAX_INFLIGHT is still full then.
      const late = await upload.finish();
      expect(late.status).toBe(503);
      expect(late.headers['retry-after']).toBe('1');

      const answers = await Promise.all(held);
      expect(answers.map((a) => a.status)).toEqual([200, 200]);
      // A full batch (BATCH_MAX_SIZE, 32 rows) does not wait for the batch timeout.
      const full = {
        model: 'iris',
        instances: Array.from({ length: 32 }, () => [5.1, 3.5, 1.4, 0.2]),
      };
      await request(app.getHttpServer()).post('/predict').send(full).expect(200);
      const text = (await request(app.getHttpServer()).get('/metrics')).text;
      expect(metricValue(text, 'http_requests_total', { route: '/predict', status: '503' })).toBe(
        2,
      );
      expect(metricValue(text, 'http_requests_admitted')).toBe(0);
    });
  });

  describe('with REQUEST_TIMEOUT_MS=300', () => {
    let app: NestExpressApplication;
    let baseUrl: string;
    beforeAll(async () => {
      app = await createTestApp({ REQUEST_TIMEOUT_MS: '300' });
      baseUrl = await listenOnLoopback(app);
    });
    afterAll(() => closeApp(app));

    it('should answer 408 to a request whose body does not arrive in time', async () => {
      const started = Date.now();
      const slow = partialRequest(baseUrl, '/predict', IRIS_BODY);
      const res = await slow.response;
      expect(Date.now() - started).toBeGreaterThanOrEqual(250);
      expect(Date.now() - started).toBeLessThan(3000);
      expect(res.status).toBe(408);
      expect(JSON.parse(res.body).message).toMatch(
        /not received within 300 ms \(REQUEST_TIMEOUT_MS\)/,
      );
      expect(res.headers.connection).toBe('close');
    });

    it('should serve requests that finish in time', async () => {
      await request(app.getHttpServer()).post('/predict').send(JSON.parse(IRIS_BODY)).expect(200);
    });
  });

  describe('with CORS_ORIGINS set', () => {
    let app: NestExpressApplication;
    beforeAll(async () => {
      app = await createTestApp({ CORS_ORIGINS: 'https://app.example, https://admin.example' });
    });
    afterAll(() => closeApp(app));

    it('should allow a listed origin, expose X-Request-Id, and not allow another origin', async () => {
      const preflight = await request(app.getHttpServer())
        .options('/predict')
        .set('Origin', 'https://admin.example')
        .set('Access-Control-Request-Method', 'POST')
        .expect(204);
      expect(preflight.headers['access-control-allow-origin']).toBe('https://admin.example');
      const res = await request(app.getHttpServer())
        .get('/models')
        .set('Origin', 'https://app.example')
        .expect(200);
      expect(res.headers['access-control-allow-origin']).toBe('https://app.example');
      expect(res.headers['access-control-expose-headers']).toMatch(/X-Request-Id/);
      const other = await request(app.getHttpServer())
        .get('/models')
        .set('Origin', 'https://evil.example')
        .expect(200);
      expect(other.headers['access-control-allow-origin']).toBeUndefined();
    });
  });
});
