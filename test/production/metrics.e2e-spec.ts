import { NestExpressApplication } from '@nestjs/platform-express';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import request from 'supertest';
import { ENGINES } from '../../src/engines/registry';
import { closeApp, createTestApp, SHIPPED_MODELS } from '../utils/test-app';
import { metricValue } from './utils/http';

describe('GET /metrics (e2e, shipped models)', () => {
  let app: NestExpressApplication;
  const scrape = async () => {
    const res = await request(app.getHttpServer()).get('/metrics').expect(200);
    expect(res.headers['content-type']).toMatch(/^text\/plain;.*version=0\.0\.4/);
    return res.text;
  };
  const predictIris = (instances: number[][], version?: string) =>
    request(app.getHttpServer()).post('/predict').send({ model: 'iris', version, instances });

  beforeAll(async () => {
    app = await createTestApp({ MODEL_VERSION_POLICY: 'all' });
  });
  afterAll(() => closeApp(app));

  it('should count requests by route pattern, model, version and status', async () => {
    const ok = { method: 'POST', route: '/predict', model: 'iris', version: '1', status: '200' };
    const before = await scrape();
    await predictIris([[5.1, 3.5, 1.4, 0.2]], '1').expect(200);
    await predictIris([[5.1, 3.5, 1.4, 0.2]], '1').expect(200);
    const after = await scrape();
    expect(
      (metricValue(after, 'http_requests_total', ok) ?? 0) -
        (metricValue(before, 'http_requests_total', ok) ?? 0),
    ).toBe(2);
    expect(metricValue(after, 'http_request_duration_seconds_count', ok)).toBe(
      metricValue(after, 'http_requests_total', ok),
    );
    expect(metricValue(after, 'http_request_duration_seconds_sum', ok)).toBeGreaterThan(0);
  });

  it('should label requests refused before routing with their route, and unknown paths as "unmatched"', async () => {
    await request(app.getHttpServer())
      .post('/predict')
      .set('content-type', 'application/json')
      .send('{"model": ')
      .expect(400);
    await request(app.getHttpServer()).get('/models/iris').expect(200);
    await request(app.getHttpServer()).get('/no/such/path/abc123').expect(404);
    const text = await scrape();
    expect(
      metricValue(text, 'http_requests_total', { route: '/predict', status: '400' }),
    ).toBeGreaterThanOrEqual(1);
    expect(
      metricValue(text, 'http_requests_total', { route: '/models/:name', status: '200' }),
    ).toBe(1);
    expect(metricValue(text, 'http_requests_total', { route: 'unmatched', status: '404' })).toBe(1);
    // Raw URLs never become label values (unbounded cardinality).
    expect(text).not.toContain('abc123');
  });

  it('should label Swagger UI\'s page and its static files "/docs", not "unmatched"', async () => {
    const docs = { method: 'GET', route: '/docs', status: '200' };
    const unmatched = { route: 'unmatched', status: '404' };
    const before = await scrape();
    // The page, its generated init script (a route) and files express.static serves (no route).
    for (const path of [
      '/docs',
      '/docs/swagger-ui-init.js',
      '/docs/swagger-ui.css',
      '/docs/swagger-ui-bundle.js',
    ]) {
      await request(app.getHttpServer()).get(path).expect(200);
    }
    const after = await scrape();
    expect(
      (metricValue(after, 'http_requests_total', docs) ?? 0) -
        (metricValue(before, 'http_requests_total', docs) ?? 0),
    ).toBe(4);
    expect(metricValue(after, 'http_requests_total', unmatched)).toBe(
      metricValue(before, 'http_requests_total', unmatched),
    );
    expect(after).not.toMatch(/route="[^"]*swagger/);
  });

  it('should count inferences, their TF.js time and instances per model version', async () => {
    const labels = { model: 'iris', version: '2' };
    const before = await scrape();
    await predictIris([
      [5.1, 3.5, 1.4, 0.2],
      [6.7, 3.1, 5.6, 2.4],
      [5.9, 3.0, 4.2, 1.5],
    ]).expect(200);
    const after = await scrape();
    const delta = (name: string, extra: Record<string, string> = {}) =>
      (metricValue(after, name, { ...labels, ...extra }) ?? 0) -
      (metricValue(before, name, { ...labels, ...extra }) ?? 0);
    expect(delta('model_inference_total', { outcome: 'ok' })).toBe(1);
    expect(delta('model_inference_duration_seconds_count')).toBe(1);
    expect(delta('model_inference_duration_seconds_sum')).toBeGreaterThan(0);
    expect(delta('model_inference_instances_sum')).toBe(3);
    expect(metricValue(after, 'model_inference_instances_bucket', { ...labels, le: '2' })).toBe(
      metricValue(before, 'model_inference_instances_bucket', { ...labels, le: '2' }) ?? 0,
    );
  });

  it('should not count an inference for a request refused before the model runs', async () => {
    const before = await scrape();
    await predictIris([[1, 2, 3]]).expect(400);
    const after = await scrape();
    expect(metricValue(after, 'model_inference_total', { model: 'iris', version: '2' })).toBe(
      metricValue(before, 'model_inference_total', { model: 'iris', version: '2' }),
    );
  });

  it('should report every loaded model version, its load time, and the models by state', async () => {
    const text = await scrape();
    expect(metricValue(text, 'models_loaded', { state: 'AVAILABLE' })).toBe(7);
    expect(metricValue(text, 'models_loaded', { state: 'LOADING' })).toBe(0);
    for (const [model, version] of [
      ['digits', '1'],
      ['iris', '1'],
      ['iris', '2'],
      ['iris-graph', '1'],
      ['linear', '1'],
    ]) {
      expect(metricValue(text, 'model_load_duration_seconds', { model, version })).toBeGreaterThan(
        0,
      );
    }
  });

  it('should report TF.js tensors and bytes, back to their idle values after predictions', async () => {
    const idle = await scrape();
    const tensors = metricValue(idle, 'tfjs_num_tensors');
    expect(tensors).toBeGreaterThan(0); // the models' weights
    expect(metricValue(idle, 'tfjs_num_bytes')).toBeGreaterThan(0);
    for (let i = 0; i < 20; i++) await predictIris([[5.1, 3.5, 1.4, 0.2]]).expect(200);
    await request(app.getHttpServer())
      .post('/predict')
      .send({ model: 'iris-graph', instances: [[1, 2, 3, 4]] })
      .expect(200);
    await request(app.getHttpServer())
      .post('/predict')
      .send({ model: 'linear', instances: [[1], [2]] })
      .expect(200);
    const after = await scrape();
    expect(metricValue(after, 'tfjs_num_tensors')).toBe(tensors);
    expect(metricValue(after, 'tfjs_num_bytes')).toBe(metricValue(idle, 'tfjs_num_bytes'));
  });

  it('should report each engine of the registry on its own: TF.js tensors, ONNX Runtime sessions', async () => {
    const text = await scrape();
    for (const { id } of ENGINES) {
      expect(metricValue(text, 'engine_objects', { engine: id })).toBeGreaterThan(0);
    }
    // tfjs_num_* count TF.js alone, no longer the ONNX sessions beside it.
    expect(metricValue(text, 'engine_objects', { engine: 'tfjs' })).toBe(
      metricValue(text, 'tfjs_num_tensors'),
    );
    expect(metricValue(text, 'engine_bytes', { engine: 'tfjs' })).toBe(
      metricValue(text, 'tfjs_num_bytes'),
    );
    // Every thread holds one session per ONNX version, counted at its model file's size.
    const threads = text.split('\n').filter((l) => l.startsWith('inference_thread_busy_ratio{'));
    const onnxFiles = ['iris-onnx/1', 'linear-onnx/1'].map((v) => join(SHIPPED_MODELS, v));
    const fileBytes = onnxFiles.reduce((n, dir) => n + statSync(join(dir, 'model.onnx')).size, 0);
    expect(threads.length).toBeGreaterThan(0);
    expect(metricValue(text, 'engine_objects', { engine: 'onnx' })).toBe(2 * threads.length);
    expect(metricValue(text, 'engine_bytes', { engine: 'onnx' })).toBe(fileBytes * threads.length);
  });

  it('should expose the default Node process metrics (heap, RSS, event-loop lag)', async () => {
    const text = await scrape();
    expect(metricValue(text, 'process_resident_memory_bytes')).toBeGreaterThan(0);
    expect(metricValue(text, 'nodejs_heap_size_used_bytes')).toBeGreaterThan(0);
    expect(metricValue(text, 'nodejs_eventloop_lag_seconds')).toBeGreaterThanOrEqual(0);
    expect(text).toContain('# TYPE http_requests_in_flight gauge');
  });
});
