import { NestExpressApplication } from '@nestjs/platform-express';
import request from 'supertest';
import { closeApp, createTestApp } from '../utils/test-app';
import { IRIS_BODY, listenOnLoopback, metricValue, partialRequest, waitFor } from './utils/http';

/** What helmet sets on an answer; every answer of the server must carry all of them. */
const SECURITY_HEADERS = [
  'content-security-policy',
  'cross-origin-opener-policy',
  'cross-origin-resource-policy',
  'origin-agent-cluster',
  'referrer-policy',
  'strict-transport-security',
  'x-content-type-options',
  'x-dns-prefetch-control',
  'x-download-options',
  'x-frame-options',
  'x-permitted-cross-domain-policies',
  'x-xss-protection',
];

const securityHeaders = (headers: Record<string, unknown>) =>
  Object.fromEntries(SECURITY_HEADERS.map((name) => [name, headers[name]]));

describe('Security headers on every answer (e2e)', () => {
  let app: NestExpressApplication;
  let baseUrl: string;
  beforeAll(async () => {
    // A lone iris request waits up to BATCH_TIMEOUT_MS for a fuller batch: with its body fully
    // received it holds the one MAX_INFLIGHT slot for 10 s, whatever counts as admitted.
    app = await createTestApp({
      MAX_INFLIGHT: '1',
      BATCH_MAX_SIZE: '32',
      BATCH_TIMEOUT_MS: '10000',
    });
    baseUrl = await listenOnLoopback(app);
  });
  afterAll(() => closeApp(app));

  it('should send the same security headers and no X-Powered-By on shed 503s, 404s and 200s', async () => {
    const held = partialRequest(baseUrl, '/predict', IRIS_BODY, IRIS_BODY.length);
    try {
      await waitFor(
        async () =>
          metricValue(
            (await request(app.getHttpServer()).get('/metrics')).text,
            'http_requests_in_flight',
          ) === 1,
      );
      const shed = await request(app.getHttpServer()).post('/predict').send(JSON.parse(IRIS_BODY));
      expect(shed.status).toBe(503);
      const ok = await request(app.getHttpServer()).get('/health/ready').expect(200);
      const missing = await request(app.getHttpServer()).get('/health/nowhere').expect(404);

      expect(Object.values(securityHeaders(ok.headers))).not.toContain(undefined);
      expect(securityHeaders(shed.headers)).toEqual(securityHeaders(ok.headers));
      expect(securityHeaders(missing.headers)).toEqual(securityHeaders(ok.headers));
      for (const res of [shed, ok, missing]) expect(res.headers['x-powered-by']).toBeUndefined();
    } finally {
      held.abort();
    }
  });
});
