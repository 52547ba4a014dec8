import { NestExpressApplication } from '@nestjs/platform-express';
import request from 'supertest';
import {
  copyShipped,
  fixedBatchGraph,
  imageLayers,
  int32Graph,
  makeRepository,
  multiIoLayers,
  removeRepository,
} from './utils/fixtures';
import { closeApp, createTestApp } from './utils/test-app';

const SETOSA = [5.1, 3.5, 1.4, 0.2];
const VIRGINICA = [6.7, 3.1, 5.6, 2.4];

describe('POST /predict (e2e, real models from disk)', () => {
  let app: NestExpressApplication;
  let repo: string;
  const predict = (body: unknown) =>
    request(app.getHttpServer())
      .post('/predict')
      .send(body as object);

  beforeAll(async () => {
    repo = await makeRepository({
      'iris/1': copyShipped('iris/1'),
      'iris/2': copyShipped('iris/2'),
      'iris-graph/1': copyShipped('iris-graph/1'),
      'linear/1': copyShipped('linear/1'),
      'counter/1': int32Graph,
      'pair/1': fixedBatchGraph,
      'multi/1': multiIoLayers,
      'image/1': imageLayers,
    });
    app = await createTestApp({ MODEL_DIR: repo, MODEL_VERSION_POLICY: 'all', MAX_BATCH: '64' });
  });
  afterAll(async () => {
    await closeApp(app);
    removeRepository(repo);
  });

  describe('valid requests', () => {
    it('should classify iris instances with the winning label and per-label scores, in order', async () => {
      const res = await predict({ model: 'iris', instances: [SETOSA, VIRGINICA] }).expect(200);
      expect(res.body.model).toBe('iris');
      expect(res.body.version).toBe(2);
      expect(res.body.predictions.map((p: { label: string }) => p.label)).toEqual([
        'setosa',
        'virginica',
      ]);
      const scores = res.body.predictions[0].scores;
      expect(Object.keys(scores)).toEqual(['setosa', 'versicolor', 'virginica']);
      expect(scores.setosa + scores.versicolor + scores.virginica).toBeCloseTo(1, 5);
      expect(scores.setosa).toBeGreaterThan(scores.versicolor);
    });

    it('should serve an older version when asked, and the highest by default', async () => {
      const v1 = await predict({ model: 'iris', version: '1', instances: [SETOSA] }).expect(200);
      const v2 = await predict({ model: 'iris', instances: [SETOSA] }).expect(200);
      expect(v1.body.version).toBe(1);
      expect(v2.body.version).toBe(2);
      expect(v1.body.predictions[0].scores.setosa).not.toBeCloseTo(
        v2.body.predictions[0].scores.setosa,
        6,
      );
    });

    it('should give the same answer from the graph model as from the layers model it was exported from', async () => {
      const instances = [SETOSA, VIRGINICA, [5.9, 3.0, 4.2, 1.5]];
      const layers = await predict({ model: 'iris', version: '2', instances }).expect(200);
      const graph = await predict({ model: 'iris-graph', instances }).expect(200);
      graph.body.predictions.forEach(
        (p: { label: string; scores: Record<string, number> }, i: number) => {
          expect(p.label).toBe(layers.body.predictions[i].label);
          expect(p.scores.versicolor).toBeCloseTo(layers.body.predictions[i].scores.versicolor, 5);
        },
      );
    });

    it('should answer the linear regression close to y = 3x + 2', async () => {
      const res = await predict({ model: 'linear', instances: [[0], [1], [10]] }).expect(200);
      const ys = res.body.predictions.map((p: number[]) => p[0]);
      expect(ys[0]).toBeCloseTo(2, 0);
      expect(ys[1]).toBeCloseTo(5, 0);
      expect(ys[2]).toBeCloseTo(32, 0);
    });

    it('should feed int32 inputs to a graph model', async () => {
      const res = await predict({
        model: 'counter',
        instances: [
          [1, 1, 1],
          [0, 0, 2],
        ],
      }).expect(200);
      expect(res.body.predictions).toEqual([[6], [6]]);
    });

    it('should run a model with a fixed batch of 1 on several instances, one at a time', async () => {
      const res = await predict({
        model: 'pair',
        instances: [
          [1, 2],
          [3, 4],
          [5, 6],
        ],
      }).expect(200);
      expect(res.body.predictions).toEqual([
        [10, 200],
        [30, 400],
        [50, 600],
      ]);
    });

    it('should take named inputs and return named outputs for a multi-input, multi-output model', async () => {
      const res = await predict({
        model: 'multi',
        instances: [
          { a: [1, 2], b: [3] },
          { a: [0, 0], b: [1] },
        ],
      }).expect(200);
      expect(res.body.predictions).toEqual([
        { sum: [6], doubled: [6] },
        { sum: [1], doubled: [2] },
      ]);
    });

    it('should accept a 224x224x3 float image as JSON (over Express 100 kB default)', async () => {
      const row = Array.from({ length: 224 }, () => Array.from({ length: 3 }, () => 0.123456789));
      const image = Array.from({ length: 224 }, () => row);
      const body = { model: 'image', instances: [image] };
      expect(JSON.stringify(body).length).toBeGreaterThan(1_500_000);
      const res = await predict(body).expect(200);
      expect(res.body.predictions[0][0]).toBeCloseTo(3 * 0.123456789, 3);
    });
  });

  describe('bad input gets a 4xx naming what was wrong and what was expected', () => {
    const expectError = async (body: unknown, status: number, pattern: RegExp) => {
      const res = await predict(body).expect(status);
      expect(res.body).toMatchObject({ statusCode: status });
      expect(res.body.message).toMatch(pattern);
    };

    it('should reject malformed JSON', async () => {
      const res = await request(app.getHttpServer())
        .post('/predict')
        .set('Content-Type', 'application/json')
        .send('{"instances": [[1, 2,')
        .expect(400);
      expect(res.body.message).toMatch(/Malformed JSON body/);
    });

    it('should reject NaN, which JSON cannot carry', async () => {
      const res = await request(app.getHttpServer())
        .post('/predict')
        .set('Content-Type', 'application/json')
        .send('{"model": "linear", "instances": [[NaN]]}')
        .expect(400);
      expect(res.body.message).toMatch(/NaN and Infinity are not valid JSON/);
    });

    it('should reject a number that overflows to Infinity', async () => {
      const res = await request(app.getHttpServer())
        .post('/predict')
        .set('Content-Type', 'application/json')
        .send('{"model": "linear", "instances": [[1e999]]}')
        .expect(400);
      expect(res.body.message).toMatch(
        /instances\[0\]\[0\]: expected a finite number, got Infinity/,
      );
    });

    it('should reject a body that is not JSON with the parser message and no NaN hint', async () => {
      const res = await request(app.getHttpServer())
        .post('/predict')
        .set('Content-Type', 'text/plain')
        .send('hello')
        .expect(400);
      expect(res.body.message).toMatch(/^Malformed JSON body: Unexpected token 'h'/);
      expect(res.body.message).not.toMatch(/NaN/);
    });

    it('should reject a missing instances field', () =>
      expectError({ model: 'iris' }, 400, /instances must be an array/));

    it('should reject empty instances', () =>
      expectError({ model: 'iris', instances: [] }, 400, /instances should not be empty/));

    it('should reject unknown fields', () =>
      expectError(
        { model: 'iris', instances: [SETOSA], inputs: [] },
        400,
        /property inputs should not exist/,
      ));

    it("should point TF Serving's columnar inputs to /v1 in one message that works as told", async () => {
      const columnar = { inputs: { features: [SETOSA, VIRGINICA] } };
      const res = await predict({ model: 'iris', ...columnar }).expect(400);
      expect(res.body.message).toBe(
        "property inputs should not exist: /predict takes `instances` (a list of rows); for TF Serving's columnar `inputs` use POST /v1/models/iris:predict",
      );
      const v1 = await request(app.getHttpServer())
        .post('/v1/models/iris:predict')
        .send(columnar)
        .expect(200);
      expect(v1.body.outputs).toHaveLength(2);
    });

    it('should give the columnar hint first, with a placeholder when no model is named', async () => {
      // signature_name comes first in the body and is unknown too; inputs says what was meant.
      const res = await predict({ signature_name: 'serving_default', inputs: [1] }).expect(400);
      expect(res.body.message).toMatch(
        /^property inputs should not exist: .*\/v1\/models\/\{model\}:predict$/,
      );
    });

    it('should name the expected shape when an instance has the wrong length', () =>
      expectError(
        { model: 'iris', instances: [SETOSA, [1, 2, 3]] },
        400,
        /instances\[1\]: expected an array of 4, got an array of 3.*\[-1,4\]/,
      ));

    it('should reject wrong nesting', () =>
      expectError(
        { model: 'iris', instances: [[SETOSA]] },
        400,
        /instances\[0\]: expected 4 elements, got 1.*\[-1,4\]/,
      ));

    it('should reject a scalar where an array is expected', () =>
      expectError(
        { model: 'iris', instances: [5.1] },
        400,
        /instances\[0\]: expected an array, got 5.1/,
      ));

    it('should reject a wrong element type', () =>
      expectError(
        { model: 'iris', instances: [[5.1, '3.5', 1.4, 0.2]] },
        400,
        /instances\[0\]\[1\]: expected a number \(float32\), got the string "3.5"/,
      ));

    it('should reject null elements', () =>
      expectError(
        { model: 'iris', instances: [[5.1, null, 1.4, 0.2]] },
        400,
        /instances\[0\]\[1\]: expected a number/,
      ));

    it('should reject non-integers for an int32 input', () =>
      expectError(
        { model: 'counter', instances: [[1, 2.5, 3]] },
        400,
        /instances\[0\]\[1\]: expected an integer in int32 range/,
      ));

    it('should reject integers beyond int32', () =>
      expectError({ model: 'counter', instances: [[1, 2, 2 ** 31]] }, 400, /int32 range/));

    it('should reject a missing input of a multi-input model', () =>
      expectError(
        { model: 'multi', instances: [{ a: [1, 2] }] },
        400,
        /instances\[0\]: missing input\(s\) b; the model's inputs are a, b/,
      ));

    it('should reject an unknown input of a multi-input model', () =>
      expectError(
        { model: 'multi', instances: [{ a: [1, 2], b: [1], c: [1] }] },
        400,
        /instances\[0\]: unknown input\(s\) c/,
      ));

    it('should 404 an unknown model, listing the models', () =>
      expectError(
        { model: 'nope', instances: [1] },
        404,
        /Request for unknown model: 'nope' is not found; available models: counter, image, iris/,
      ));

    it('should 404 an unknown version, listing the loaded versions', () =>
      expectError(
        { model: 'iris', version: '9', instances: [SETOSA] },
        404,
        /Version 9 of model 'iris' not found; loaded versions: 2, 1/,
      ));

    it('should reject a version that is not a positive integer', () =>
      expectError(
        { model: 'iris', version: '../1', instances: [SETOSA] },
        400,
        /version must be a positive integer/,
      ));

    it('should ask for a model name when several models are served', () =>
      expectError(
        { instances: [SETOSA] },
        400,
        /Several models are served; name one in "model". Available models: counter/,
      ));

    it('should 413 more instances than MAX_BATCH', () =>
      expectError(
        { model: 'linear', instances: Array.from({ length: 65 }, () => [1]) },
        413,
        /Too many instances: 65; at most MAX_BATCH=64/,
      ));

    it('should keep serving after every bad request', () =>
      predict({ model: 'linear', instances: [[1]] }).expect(200));
  });
});

describe('POST /predict with limits and defaults (e2e)', () => {
  let app: NestExpressApplication | undefined;
  afterEach(() => closeApp(app));

  it('should 413 a body over BODY_LIMIT, naming the limit', async () => {
    app = await createTestApp({ BODY_LIMIT: '1kb' });
    const res = await request(app.getHttpServer())
      .post('/predict')
      .send({ model: 'linear', instances: Array.from({ length: 300 }, () => [1.5]) })
      .expect(413);
    expect(res.body.message).toMatch(/over the limit of 1024 bytes \(BODY_LIMIT\)/);
  });

  it('should use DEFAULT_MODEL when the request names no model', async () => {
    app = await createTestApp({ DEFAULT_MODEL: 'linear' });
    const res = await request(app.getHttpServer())
      .post('/predict')
      .send({ instances: [[1]] })
      .expect(200);
    expect(res.body.model).toBe('linear');
  });

  it('should use the only model when just one is served', async () => {
    const repo = await makeRepository({ 'iris/2': copyShipped('iris/2') });
    try {
      app = await createTestApp({ MODEL_DIR: repo });
      const res = await request(app.getHttpServer())
        .post('/predict')
        .send({ instances: [SETOSA] })
        .expect(200);
      expect(res.body.model).toBe('iris');
    } finally {
      removeRepository(repo);
    }
  });
});
