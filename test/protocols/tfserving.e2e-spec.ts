import { NestExpressApplication } from '@nestjs/platform-express';
import request from 'supertest';
import { closeApp, createTestApp } from '../utils/test-app';
import { makeProtocolRepository, removeRepository } from './protocol-fixtures';

/**
 * Conformance with TensorFlow Serving's REST API (tensorflow_serving/g3doc/api_rest.md): the
 * reference's own examples replayed against the real app and real models from disk, then every
 * bad input, each answered with the status code and exactly {"error": "<message>"}.
 */
describe('TensorFlow Serving REST API /v1 (e2e)', () => {
  let app: NestExpressApplication;
  let root: string;
  const http = () => request(app.getHttpServer());

  beforeAll(async () => {
    root = await makeProtocolRepository();
    app = await createTestApp({ MODEL_DIR: root, MODEL_VERSION_POLICY: 'all' });
  });
  afterAll(async () => {
    await closeApp(app);
    removeRepository(root);
  });

  describe('replaying api_rest.md', () => {
    it('should answer the model status example exactly', async () => {
      const res = await http().get('/v1/models/half_plus_three').expect(200);
      expect(res.body).toEqual({
        model_version_status: [
          { version: '123', state: 'AVAILABLE', status: { error_code: 'OK', error_message: '' } },
        ],
      });
    });

    it('should answer the predict example exactly: {"instances": [1.0,2.0,5.0]}', async () => {
      const res = await http()
        .post('/v1/models/half_plus_three:predict')
        .send({ instances: [1.0, 2.0, 5.0] })
        .expect(200);
      expect(res.body).toEqual({ predictions: [3.5, 4.0, 5.5] });
    });

    it('should answer the 404 example with {"error": ...} naming the unknown model', async () => {
      const res = await http()
        .post('/v1/models/half:predict')
        .send({ instances: [1.0, 5.0] })
        .expect(404)
        .expect('Content-Type', /application\/json/);
      expect(Object.keys(res.body)).toEqual(['error']);
      expect(res.body.error).toMatch(
        /Request for unknown model: 'half' is not found; available models: .*half_plus_three/,
      );
    });

    it('should take named inputs in row format and answer a list of objects per output', async () => {
      // api_rest.md's three-input example, without the string input "tag" (TF.js feeds numbers).
      const res = await http()
        .post('/v1/models/sensors:predict')
        .send({
          instances: [
            {
              signal: [1, 2, 3, 4, 5],
              sensor: [
                [1, 2],
                [3, 4],
              ],
            },
            {
              signal: [3, 4, 1, 2, 5],
              sensor: [
                [4, 5],
                [6, 8],
              ],
            },
          ],
        })
        .expect(200);
      expect(res.body).toEqual({
        predictions: [
          { signal_sum: [15], sensor_sum: [10] },
          { signal_sum: [15], sensor_sum: [23] },
        ],
      });
    });

    it('should take the columnar form of the same example and answer {"outputs": {...}}', async () => {
      const res = await http()
        .post('/v1/models/sensors:predict')
        .send({
          inputs: {
            signal: [
              [1, 2, 3, 4, 5],
              [3, 4, 1, 2, 5],
            ],
            sensor: [
              [
                [1, 2],
                [3, 4],
              ],
              [
                [4, 5],
                [6, 8],
              ],
            ],
          },
        })
        .expect(200);
      expect(res.body).toEqual({ outputs: { signal_sum: [[15], [15]], sensor_sum: [[10], [23]] } });
    });

    it('should take signature_name "serving_default" or "" as the default signature', async () => {
      for (const signature_name of ['serving_default', '']) {
        const res = await http()
          .post('/v1/models/half_plus_three:predict')
          .send({ signature_name, instances: [1.0] })
          .expect(200);
        expect(res.body).toEqual({ predictions: [3.5] });
      }
    });

    it('should answer a single-output columnar request with the bare tensor', async () => {
      const res = await http()
        .post('/v1/models/half_plus_three:predict')
        .send({ inputs: [1.0, 2.0, 5.0] })
        .expect(200);
      expect(res.body).toEqual({ outputs: [3.5, 4.0, 5.5] });
    });
  });

  describe('versions and metadata', () => {
    it('should list every loaded version, highest first', async () => {
      const res = await http().get('/v1/models/iris').expect(200);
      expect(res.body.model_version_status.map((v: { version: string }) => v.version)).toEqual([
        '2',
        '1',
      ]);
    });

    it('should report one version under /versions/{v}', async () => {
      const res = await http().get('/v1/models/iris/versions/1').expect(200);
      expect(res.body).toEqual({
        model_version_status: [
          { version: '1', state: 'AVAILABLE', status: { error_code: 'OK', error_message: '' } },
        ],
      });
    });

    it('should predict with the version named in the path', async () => {
      const row = [5.1, 3.5, 1.4, 0.2];
      const v1 = await http()
        .post('/v1/models/iris/versions/1:predict')
        .send({ instances: [row] });
      const v2 = await http()
        .post('/v1/models/iris/versions/2:predict')
        .send({ instances: [row] });
      const latest = await http()
        .post('/v1/models/iris:predict')
        .send({ instances: [row] });
      expect(v1.status).toBe(200);
      expect(v1.body.predictions[0]).toHaveLength(3);
      expect(v1.body.predictions).not.toEqual(v2.body.predictions);
      expect(latest.body).toEqual(v2.body);
    });

    it('should answer raw output rows (no labels) for a model with labels', async () => {
      const res = await http()
        .post('/v1/models/iris-graph:predict')
        .send({
          signature_name: 'serving_default',
          instances: [{ features: [5.1, 3.5, 1.4, 0.2] }],
        })
        .expect(200);
      const [scores] = res.body.predictions as number[][];
      expect(scores).toHaveLength(3);
      expect(scores[0]).toBeGreaterThan(0.9);
    });

    it('should describe the signature as TF Serving does (model_spec + signature_def map)', async () => {
      const res = await http().get('/v1/models/iris/versions/2/metadata').expect(200);
      expect(res.body).toEqual({
        model_spec: { name: 'iris', signature_name: '', version: '2' },
        metadata: {
          signature_def: {
            signature_def: {
              serving_default: {
                inputs: {
                  features: {
                    dtype: 'DT_FLOAT',
                    tensor_shape: {
                      dim: [
                        { size: '-1', name: '' },
                        { size: '4', name: '' },
                      ],
                      unknown_rank: false,
                    },
                    name: 'features:0',
                  },
                },
                outputs: {
                  probabilities: {
                    dtype: 'DT_FLOAT',
                    tensor_shape: {
                      dim: [
                        { size: '-1', name: '' },
                        { size: '3', name: '' },
                      ],
                      unknown_rank: false,
                    },
                    name: 'probabilities:0',
                  },
                },
                method_name: 'tensorflow/serving/predict',
              },
            },
          },
        },
      });
    });

    it('should give DT_INT32 and DT_BOOL dtypes and the latest version without /versions', async () => {
      const res = await http().get('/v1/models/mymodel/metadata').expect(200);
      const { inputs } = res.body.metadata.signature_def.signature_def.serving_default;
      expect(res.body.model_spec.version).toBe('1');
      expect(inputs.input0.dtype).toBe('DT_INT32');
      expect(inputs.input1.dtype).toBe('DT_BOOL');
    });
  });

  describe('a wrong method answers 405 with Allow and {"error"}, as /v2 does', () => {
    type Method = 'get' | 'post' | 'put' | 'delete' | 'head';
    const send = (method: string, path: string) => http()[method.toLowerCase() as Method](path);
    // Latest, a version and a label: every form of every verb and GET path api_rest.md has.
    const forms = ['iris', 'iris/versions/1', 'iris/labels/stable'];
    const verbPaths = ['predict', 'classify', 'regress'].flatMap((verb) =>
      forms.map((form) => `/v1/models/${form}:${verb}`),
    );
    const getPaths = forms.flatMap((form) => [`/v1/models/${form}`, `/v1/models/${form}/metadata`]);

    it.each(verbPaths.flatMap((path) => ['GET', 'PUT', 'DELETE'].map((m) => [m, path])))(
      'should answer %s %s with 405, Allow: POST',
      async (method, path) => {
        const res = await send(method, path).expect(405);
        expect(res.headers.allow).toBe('POST');
        expect(res.body).toEqual({
          error: `Method ${method} is not allowed on ${path}; allowed: POST`,
        });
      },
    );

    it.each(getPaths.flatMap((path) => ['POST', 'PUT', 'DELETE'].map((m) => [m, path])))(
      'should answer %s %s with 405, Allow: GET, HEAD',
      async (method, path) => {
        const res = await send(method, path).expect(405);
        expect(res.headers.allow).toBe('GET, HEAD');
        expect(res.body).toEqual({
          error: `Method ${method} is not allowed on ${path}; allowed: GET, HEAD`,
        });
      },
    );

    it('should answer HEAD on a verb path with 405, as GET (Express routes HEAD to GET)', async () => {
      const res = await send('HEAD', '/v1/models/iris:predict').expect(405);
      expect(res.headers.allow).toBe('POST');
    });

    it('should answer 405 on a verb path whatever the model, as /v2 does', async () => {
      const res = await send('GET', '/v1/models/nope:predict').expect(405);
      expect(res.body).toEqual({
        error: 'Method GET is not allowed on /v1/models/nope:predict; allowed: POST',
      });
    });

    it('should keep 404 where the method is right: an unknown model, version or verb', async () => {
      const notFound = async (path: string, pattern: RegExp) => {
        const res = await send('GET', path).expect(404);
        expect(res.headers.allow).toBeUndefined();
        expect(res.body.error).toMatch(pattern);
      };
      await notFound('/v1/models/nope', /Request for unknown model: 'nope' is not found/);
      await notFound('/v1/models/iris/versions/9', /Version 9 of model 'iris' not found/);
      // Not a verb TF Serving has: the status route reads it as a model name, as before.
      await notFound(
        '/v1/models/iris:explain',
        /Request for unknown model: 'iris:explain' is not found/,
      );
    });

    it('should still answer the right method on the same paths', async () => {
      await send('GET', '/v1/models/iris').expect(200);
      await http()
        .post('/v1/models/iris/versions/1:predict')
        .send({ instances: [[5.1, 3.5, 1.4, 0.2]] })
        .expect(200);
    });
  });

  describe('bad requests answer the status code and exactly {"error": "<message>"}', () => {
    const expectError = async (res: request.Response, status: number, pattern: RegExp) => {
      expect(res.status).toBe(status);
      expect(Object.keys(res.body)).toEqual(['error']);
      expect(res.body.error).toMatch(pattern);
    };
    const predict = (path: string, body: unknown) =>
      http()
        .post(path)
        .send(body as object);

    it.each([
      [
        'both formats at once',
        '/v1/models/half_plus_three:predict',
        { instances: [1], inputs: [1] },
        400,
        /either "instances" \(row format\) or "inputs" \(columnar format\), not both/,
      ],
      [
        'neither format',
        '/v1/models/half_plus_three:predict',
        { signature_name: 'serving_default' },
        400,
        /Missing "instances" \(row format\) or "inputs" \(columnar format\)/,
      ],
      [
        'an unknown signature',
        '/v1/models/half_plus_three:predict',
        { signature_name: 'classify', instances: [1] },
        400,
        /signature name: "classify" not found; model 'half_plus_three' has only "serving_default"/,
      ],
      [
        'an unknown version',
        '/v1/models/iris/versions/7:predict',
        { instances: [[1, 2, 3, 4]] },
        404,
        /Version 7 of model 'iris' not found; loaded versions: 2, 1/,
      ],
      [
        'a wrong element count',
        '/v1/models/iris:predict',
        { instances: [[1, 2, 3]] },
        400,
        /instances\[0\]: expected 4 elements, got 3; input 'features' expects shape \[-1,4\]/,
      ],
      [
        'a wrong element type',
        '/v1/models/iris:predict',
        { instances: [[1, 2, 'x', 4]] },
        400,
        /instances\[0\]\[2\]: expected a number \(float32\), got the string "x"/,
      ],
      [
        'a fraction for an int32 input',
        '/v1/models/mymodel:predict',
        { inputs: { input0: [[1, 2.5]], input1: [true] } },
        400,
        /inputs.input0\[0\]\[1\]: expected an integer in int32 range/,
      ],
      [
        'a missing input name',
        '/v1/models/sensors:predict',
        { instances: [{ signal: [1, 2, 3, 4, 5] }] },
        400,
        /instances\[0\]: missing input\(s\) sensor; the model's inputs are signal, sensor/,
      ],
      [
        'an extra input name',
        '/v1/models/sensors:predict',
        {
          inputs: {
            signal: [[1, 2, 3, 4, 5]],
            sensor: [
              [
                [1, 2],
                [3, 4],
              ],
            ],
            tag: ['foo'],
          },
        },
        400,
        /inputs: unknown input\(s\) tag; the model's inputs are signal, sensor/,
      ],
      [
        'columnar inputs with different row counts for a layers model',
        '/v1/models/sensors:predict',
        {
          inputs: {
            signal: [
              [1, 2, 3, 4, 5],
              [3, 4, 1, 2, 5],
            ],
            sensor: [
              [
                [1, 2],
                [3, 4],
              ],
            ],
          },
        },
        400,
        /model 'sensors' pairs its inputs row by row; every input needs the same 0-th dimension, got signal: 2, sensor: 1/,
      ],
      [
        'instances that are not a list',
        '/v1/models/half_plus_three:predict',
        { instances: 3 },
        400,
        /"instances" must be a non-empty list/,
      ],
      [
        'an unknown body field',
        '/v1/models/half_plus_three:predict',
        { instances: [1], examples: [] },
        400,
        /property examples should not exist/,
      ],
    ])('should reject %s', async (_what, path, body, status, pattern) => {
      await expectError(await predict(path, body), status, pattern);
    });

    it('should 404 an unknown model on status and metadata', async () => {
      await expectError(
        await http().get('/v1/models/nope'),
        404,
        /Request for unknown model: 'nope' is not found/,
      );
      await expectError(
        await http().get('/v1/models/nope/metadata'),
        404,
        /Request for unknown model: 'nope' is not found/,
      );
    });

    it('should 404 a version label, since this server assigns none', async () => {
      const pattern = /label: 'stable' for model 'iris'; this server assigns no version labels/;
      await expectError(await http().get('/v1/models/iris/labels/stable'), 404, pattern);
      await expectError(await http().get('/v1/models/iris/labels/stable/metadata'), 404, pattern);
      await expectError(
        await predict('/v1/models/iris/labels/stable:predict', { instances: [[1, 2, 3, 4]] }),
        404,
        pattern,
      );
    });

    it('should use {"error"} for malformed JSON, raised before routing', async () => {
      const res = await http()
        .post('/v1/models/half_plus_three:predict')
        .set('Content-Type', 'application/json')
        .send('{"instances": [1.0, NaN]}');
      await expectError(res, 400, /Malformed JSON body/);
    });

    it('should use {"error"} for an unknown /v1 route', async () => {
      // (:classify exists now; a path no /v1 route has, in any method)
      await expectError(await predict('/v1/no/such/route', {}), 404, /Cannot POST/);
    });

    it('should keep the native error shape outside /v1 and /v2', async () => {
      const res = await http()
        .post('/predict')
        .send({ model: 'nope', instances: [1] });
      expect(res.body).toMatchObject({ statusCode: 404, error: 'Not Found' });
    });
  });
});

describe('MODEL_VERSION_POLICY=latest, the default (e2e)', () => {
  let app: NestExpressApplication;

  beforeAll(async () => {
    app = await createTestApp(); // shipped models: iris/1 and iris/2 on disk
  });
  afterAll(() => closeApp(app));

  it('should serve only the highest version, as TF Serving does', async () => {
    const status = await request(app.getHttpServer()).get('/v1/models/iris').expect(200);
    expect(status.body.model_version_status.map((v: { version: string }) => v.version)).toEqual([
      '2',
    ]);
    const v1 = await request(app.getHttpServer()).get('/v1/models/iris/versions/1/metadata');
    expect(v1.status).toBe(404);
    expect(v1.body).toEqual({ error: "Version 1 of model 'iris' not found; loaded versions: 2" });
  });
});
