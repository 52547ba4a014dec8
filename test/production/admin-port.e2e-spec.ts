import { NestExpressApplication } from '@nestjs/platform-express';
import type { Server } from 'node:http';
import { ConnectionDrain } from '../../src/edge/admission/connection-drain';
import { drain } from '../../src/edge/admission/graceful-shutdown';
import { copyShipped, makeRepository, removeRepository } from '../utils/fixtures';
import { closeApp, createTestApp } from '../utils/test-app';
import { IRIS_BODY, listenOnLoopback, metricValue } from './utils/http';
import { freePort, getFresh, RunningServer, runServer } from './utils/server';

const post = (url: string, body: string) =>
  fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body });

let repo: string;
beforeAll(async () => {
  repo = await makeRepository({ 'iris/1': copyShipped('iris/1') });
});
afterAll(() => removeRepository(repo));

describe('ADMIN_PORT (e2e, built server)', () => {
  let server: RunningServer;
  let admin: string;
  beforeAll(async () => {
    const port = await freePort();
    admin = `http://127.0.0.1:${port}`;
    server = await runServer({ MODEL_DIR: repo, ADMIN_PORT: String(port) });
  });
  afterAll(() => server?.stop());

  it('should serve /metrics and /docs on the admin port, from the one metrics registry', async () => {
    expect((await post(`${server.url}/predict`, IRIS_BODY)).status).toBe(200);
    const metrics = await fetch(`${admin}/metrics`);
    expect(metrics.status).toBe(200);
    const text = await metrics.text();
    expect(
      metricValue(text, 'http_requests_total', { route: '/predict', status: '200' }),
    ).toBeGreaterThanOrEqual(1);
    const docs = await fetch(`${admin}/docs`);
    expect(docs.status).toBe(200);
    expect(await docs.text()).toMatch(/swagger-ui/);
    const spec = (await (await fetch(`${admin}/docs-json`)).json()) as { paths: object };
    expect(Object.keys(spec.paths)).toContain('/predict');
    expect(server.output()).toContain(`Admin endpoints (/metrics, /docs) on ${admin}`);
    expect(server.output()).toContain(`Listening on ${server.url} (docs at ${admin}/docs)`);
  });

  it.each(['/metrics', '/METRICS', '/metrics/', '/docs', '/docs/', '/docs-json', '/docs-yaml'])(
    'should answer %s with 404 on the public port',
    async (path) => {
      const res = await fetch(`${server.url}${path}`);
      expect({ path, status: res.status }).toEqual({ path, status: 404 });
      expect(await res.json()).toMatchObject({ statusCode: 404, error: 'Not Found' });
    },
  );

  it('should serve nothing but metrics and docs on the admin port', async () => {
    expect((await post(`${admin}/predict`, IRIS_BODY)).status).toBe(404);
    expect((await fetch(`${admin}/health/ready`)).status).toBe(404);
    expect((await fetch(`${server.url}/health/ready`)).status).toBe(200);
  });

  it('should carry the security headers on the admin port too', async () => {
    const res = await fetch(`${admin}/metrics`);
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('x-powered-by')).toBeNull();
  });
});

describe('ADMIN_PORT in graceful shutdown (e2e)', () => {
  let app: NestExpressApplication;
  let admin: string;
  let connections: ConnectionDrain;
  beforeAll(async () => {
    const port = await freePort();
    admin = `http://127.0.0.1:${port}/metrics`;
    app = await createTestApp({
      MODEL_DIR: repo,
      ADMIN_PORT: String(port),
      HOST: '127.0.0.1',
      SHUTDOWN_DELAY_MS: '0',
    });
    await listenOnLoopback(app);
    connections = new ConnectionDrain(app.getHttpServer() as Server);
  });
  afterAll(() => closeApp(app));

  it('should close the admin port at the end of the drain, even with a scraper connected', async () => {
    // fetch keeps its connection alive, as a Prometheus scraper does: it must not hold the close.
    expect((await fetch(admin)).status).toBe(200);
    expect(await drain(app, connections)).toBe(true);
    await expect(getFresh(admin)).rejects.toThrow(/ECONNREFUSED/);
  });
});
