import { NestExpressApplication } from '@nestjs/platform-express';
import request from 'supertest';
import { closeApp, createTestApp } from './utils/test-app';

describe('Model catalog, health and docs (e2e)', () => {
  let app: NestExpressApplication;

  beforeAll(async () => {
    app = await createTestApp({ MODEL_VERSION_POLICY: 'all' });
  });
  afterAll(() => closeApp(app));

  it('GET /models should list every shipped model with its versions, highest first', async () => {
    const res = await request(app.getHttpServer()).get('/models').expect(200);
    expect(res.body).toEqual({
      models: [
        { name: 'digits', versions: [1] },
        { name: 'iris', versions: [2, 1] },
        { name: 'iris-graph', versions: [1] },
        { name: 'iris-onnx', versions: [1] },
        { name: 'linear', versions: [1] },
        { name: 'linear-onnx', versions: [1] },
      ],
    });
  });

  it('GET /models/:name should describe signature, labels, description, backend and load time', async () => {
    const res = await request(app.getHttpServer()).get('/models/iris').expect(200);
    expect(res.body).toMatchObject({ name: 'iris', backend: 'wasm', defaultVersion: 2 });
    const [v2] = res.body.versions;
    expect(v2).toMatchObject({
      version: 2,
      state: 'AVAILABLE',
      format: 'layers-model',
      inputs: [{ name: 'features', dtype: 'float32', shape: [-1, 4] }],
      outputs: [{ name: 'probabilities', dtype: 'float32', shape: [-1, 3] }],
      labels: ['setosa', 'versicolor', 'virginica'],
    });
    expect(v2.description).toMatch(/Iris/);
    expect(v2.loadTimeMs).toBeGreaterThan(0);
    expect(v2.metadata.training.testAccuracy).toBeGreaterThan(0.9);
  });

  it('GET /models/:name should read a graph model signature from its model.json', async () => {
    const res = await request(app.getHttpServer()).get('/models/iris-graph').expect(200);
    expect(res.body.versions[0]).toMatchObject({
      format: 'graph-model',
      inputs: [{ name: 'features', dtype: 'float32', shape: [-1, 4] }],
      outputs: [{ name: 'probabilities', dtype: 'float32', shape: [-1, 3] }],
    });
  });

  it('GET /models/:name should 404 an unknown model', async () => {
    const res = await request(app.getHttpServer()).get('/models/unknown').expect(404);
    expect(res.body.message).toMatch(
      /Request for unknown model: 'unknown' is not found; available models: digits, iris, iris-graph, iris-onnx, linear, linear-onnx/,
    );
  });

  it('GET /health/live and /health/ready should be up once models are loaded', async () => {
    await request(app.getHttpServer()).get('/health/live').expect(200);
    const ready = await request(app.getHttpServer()).get('/health/ready').expect(200);
    expect(ready.body.details.models).toEqual({
      status: 'up',
      loaded: ['digits', 'iris', 'iris-graph', 'iris-onnx', 'linear', 'linear-onnx'],
    });
  });

  it('GET /docs-json should document every endpoint with schemas and examples', async () => {
    const res = await request(app.getHttpServer()).get('/docs-json').expect(200);
    const paths = res.body.paths;
    for (const path of ['/predict', '/models', '/models/{name}', '/health/live', '/health/ready']) {
      expect(paths).toHaveProperty([path]);
    }
    const schemas = res.body.components.schemas;
    // One body schema for JSON and multipart: JSON examples, and a file field for the upload form.
    const body = paths['/predict'].post.requestBody.content;
    expect(Object.keys(body)).toEqual(['multipart/form-data', 'application/json']);
    expect(body['application/json'].examples.iris.value.instances).toBeDefined();
    expect(body['multipart/form-data'].schema.properties.image).toEqual(
      expect.objectContaining({ type: 'string', format: 'binary' }),
    );
    expect(schemas.PredictResponseDto.properties.predictions.example).toBeDefined();
    expect(paths['/predict'].post.responses).toHaveProperty(['400']);
    expect(paths['/predict'].post.responses).toHaveProperty(['413']);
  });

  it('GET /docs should serve the Swagger UI', async () => {
    const res = await request(app.getHttpServer()).get('/docs').expect(200);
    expect(res.text).toMatch(/swagger-ui/i);
  });
});

describe('Readiness before and after the models are loaded (e2e)', () => {
  it('should report not ready after shutdown has disposed the models', async () => {
    const app = await createTestApp({ DEFAULT_MODEL: 'linear' });
    const server = app.getHttpServer();
    await request(server).get('/health/ready').expect(200);
    await app.close();
    const { ModelService } = await import('../src/core/model.service');
    expect(app.get(ModelService).isReady()).toBe(false);
    expect(app.get(ModelService).modelNames()).toEqual([]);
  });
});
