import { NestExpressApplication } from '@nestjs/platform-express';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import request from 'supertest';
import { ModelService } from '../../src/core/model.service';
import { copyShipped, corruptModelJson, makeRepository, removeRepository } from '../utils/fixtures';
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

describe('Load errors seen by clients (e2e)', () => {
  let app: NestExpressApplication;
  let repo: string;
  beforeAll(async () => {
    repo = await makeRepository({ 'iris/1': copyShipped('iris/1') });
    app = await createTestApp({ MODEL_DIR: repo, MODEL_VERSION_POLICY: 'all' });
    // Versions hot reload finds broken, one per engine: both stay listed with their error.
    await corruptModelJson(join(repo, 'iris', '2'));
    mkdirSync(join(repo, 'iris', '3'));
    writeFileSync(join(repo, 'iris', '3', 'model.onnx'), 'not an ONNX file');
    await app.get(ModelService).reload();
  });
  afterAll(async () => {
    await closeApp(app);
    removeRepository(repo);
  });

  it('should name model folders relative to MODEL_DIR in /models, /v1 status and 404s', async () => {
    const http = () => request(app.getHttpServer());
    const { failed } = (await http().get('/models').expect(200)).body as {
      failed: { version: number; error: string }[];
    };
    expect(failed.map((f) => f.version)).toEqual([3, 2]);
    expect(failed[0].error).toMatch(/^failed to load 'iris' version 3: iris\/3\/model\.onnx: /);
    expect(failed[1].error).toMatch(
      /^failed to load 'iris' version 2: iris\/2\/model\.json: model\.json is not valid JSON/,
    );
    const status = (await http().get('/v1/models/iris').expect(200)).text;
    expect(status).toMatch(/iris\/3\/model\.onnx/);
    const pinned = (await http().get('/v2/models/iris/versions/2').expect(404)).text;
    expect(pinned).toMatch(/iris\/2\/model\.json/);

    for (const text of [JSON.stringify(failed), status, pinned]) expect(text).not.toContain(repo);
  });
});
