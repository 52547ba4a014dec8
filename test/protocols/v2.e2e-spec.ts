import { NestExpressApplication } from '@nestjs/platform-express';
import request from 'supertest';
import { ModelService } from '../../src/core/model.service';
import { closeApp, createTestApp } from '../utils/test-app';
import { makeProtocolRepository, removeRepository } from './protocol-fixtures';

/**
 * Conformance with the Open Inference Protocol V2 (kserve/open-inference-protocol,
 * specification/protocol/inference_rest.md and open_inference_rest.yaml), against the real app
 * and real models from disk, including the spec's own `mymodel` inference example.
 */
describe('Open Inference Protocol V2 /v2 (e2e)', () => {
  let app: NestExpressApplication;
  let root: string;
  const http = () => request(app.getHttpServer());
  const infer = (path: string, body: unknown) =>
    http()
      .post(path)
      .send(body as object);

  const irisRows = [5.1, 3.5, 1.4, 0.2, 6.7, 3.1, 5.6, 2.4];
  const irisInput = (over: object = {}) => ({
    name: 'features',
    shape: [2, 4],
    datatype: 'FP32',
    data: irisRows,
    ...over,
  });

  beforeAll(async () => {
    root = await makeProtocolRepository();
    app = await createTestApp({ MODEL_DIR: root, MODEL_VERSION_POLICY: 'all' });
  });
  afterAll(async () => {
    await closeApp(app);
    removeRepository(root);
  });

  describe('server endpoints', () => {
    it('should answer server metadata {name, version, extensions}', async () => {
      const res = await http().get('/v2').expect(200);
      expect(res.body).toEqual({
        name: 'tfjs-model-server',
        version: '0.1.0',
        extensions: ['binary_tensor_data', 'model_repository', 'model_configuration', 'statistics'],
      });
    });

    it('should answer live and ready with 200 and a JSON body', async () => {
      expect((await http().get('/v2/health/live').expect(200)).body).toEqual({ live: true });
      expect((await http().get('/v2/health/ready').expect(200)).body).toEqual({ ready: true });
    });
  });

  describe('model endpoints', () => {
    it('should answer model metadata with versions, platform and tensor metadata', async () => {
      const res = await http().get('/v2/models/iris').expect(200);
      expect(res.body).toEqual({
        name: 'iris',
        versions: ['2', '1'],
        platform: 'tensorflowjs_layers',
        inputs: [{ name: 'features', datatype: 'FP32', shape: [-1, 4] }],
        outputs: [{ name: 'probabilities', datatype: 'FP32', shape: [-1, 3] }],
      });
    });

    it('should answer the metadata of a graph model with INT32 and BOOL inputs', async () => {
      const res = await http().get('/v2/models/mymodel/versions/1').expect(200);
      expect(res.body).toEqual({
        name: 'mymodel',
        versions: ['1'],
        platform: 'tensorflowjs_graph',
        inputs: [
          { name: 'input0', datatype: 'INT32', shape: [-1, 2] },
          { name: 'input1', datatype: 'BOOL', shape: [-1] },
        ],
        outputs: [
          { name: 'output0', datatype: 'FP32', shape: [-1, 2] },
          { name: 'output1', datatype: 'INT32', shape: [-1, 2] },
        ],
      });
    });

    it('should answer model ready and version ready', async () => {
      expect((await http().get('/v2/models/iris/ready').expect(200)).body).toEqual({
        name: 'iris',
        ready: true,
      });
      await http().get('/v2/models/iris/versions/1/ready').expect(200);
      const missing = await http().get('/v2/models/iris/versions/9/ready').expect(404);
      expect(missing.body).toEqual({ error: expect.stringMatching(/Version 9 of model 'iris'/) });
    });
  });

  describe('inference', () => {
    it("should replay the spec's example (UINT32 [2,2] + BOOL [3], output0 selected)", async () => {
      const res = await infer('/v2/models/mymodel/infer', {
        id: '42',
        inputs: [
          { name: 'input0', shape: [2, 2], datatype: 'UINT32', data: [1, 2, 3, 4] },
          // The spec's example sends [true] for shape [3]; three values make it consistent.
          { name: 'input1', shape: [3], datatype: 'BOOL', data: [true, false, true] },
        ],
        outputs: [{ name: 'output0' }],
      }).expect(200);
      // output0 = input1[:, None] + column sums of input0 ([4, 6]): a [3, 2] FP32 tensor.
      expect(res.body).toEqual({
        model_name: 'mymodel',
        model_version: '1',
        id: '42',
        outputs: [{ name: 'output0', shape: [3, 2], datatype: 'FP32', data: [5, 7, 4, 6, 5, 7] }],
      });
    });

    it("should 400 the spec's example as printed: shape [3] but one BOOL value", async () => {
      const res = await infer('/v2/models/mymodel/infer', {
        id: '42',
        inputs: [
          { name: 'input0', shape: [2, 2], datatype: 'UINT32', data: [1, 2, 3, 4] },
          { name: 'input1', shape: [3], datatype: 'BOOL', data: [true] },
        ],
        outputs: [{ name: 'output0' }],
      }).expect(400);
      expect(res.body).toEqual({
        error: "inputs[1] 'input1': shape [3] holds 3 elements but data has 1",
      });
    });

    it('should return every output when none is selected, INT32 ones included', async () => {
      const res = await infer('/v2/models/mymodel/infer', {
        parameters: { content_type: 'np' }, // accepted; no parameter changes the result
        inputs: [
          { name: 'input1', shape: [1], datatype: 'BOOL', data: [false], parameters: { a: 1 } },
          { name: 'input0', shape: [1, 2], datatype: 'INT64', data: [[7, 8]] },
        ],
      }).expect(200);
      expect(res.body.outputs).toEqual([
        { name: 'output0', shape: [1, 2], datatype: 'FP32', data: [7, 8] },
        { name: 'output1', shape: [1, 2], datatype: 'INT32', data: [7, 8] },
      ]);
      expect(res.body.id).toMatch(/^[0-9a-f-]{36}$/);
    });

    it('should take flat and nested data alike, and answer flat row-major data', async () => {
      const flat = await infer('/v2/models/iris/infer', { inputs: [irisInput()] }).expect(200);
      const nested = await infer('/v2/models/iris/infer', {
        inputs: [irisInput({ data: [irisRows.slice(0, 4), irisRows.slice(4)] })],
      }).expect(200);
      expect(flat.body.outputs).toEqual(nested.body.outputs);
      const [out] = flat.body.outputs;
      expect(out).toMatchObject({ name: 'probabilities', shape: [2, 3], datatype: 'FP32' });
      expect(out.data).toHaveLength(6);
      expect(out.data[0]).toBeGreaterThan(0.9); // setosa
      expect(out.data[5]).toBeGreaterThan(0.9); // virginica
    });

    it('should agree with TF Serving and /predict on the same model and rows', async () => {
      const v2 = await infer('/v2/models/iris/versions/1/infer', { inputs: [irisInput()] });
      const v1 = await http()
        .post('/v1/models/iris/versions/1:predict')
        .send({ instances: [irisRows.slice(0, 4), irisRows.slice(4)] });
      expect(v2.body.model_version).toBe('1');
      expect(v2.body.outputs[0].data).toEqual((v1.body.predictions as number[][]).flat());
    });

    it('should map numeric datatypes onto a float input (INT8, FP64, FP16)', async () => {
      for (const datatype of ['INT8', 'FP64', 'FP16', 'UINT16']) {
        const res = await infer('/v2/models/iris/infer', {
          inputs: [irisInput({ datatype, shape: [1, 4], data: [5, 3, 1, 0] })],
        });
        expect({ datatype, status: res.status }).toEqual({ datatype, status: 200 });
      }
    });
  });

  describe('bad requests answer the status code and exactly {"error": "<message>"}', () => {
    const mymodel = (input0: object, input1: object = {}) => ({
      inputs: [
        { name: 'input0', shape: [1, 2], datatype: 'INT32', data: [1, 2], ...input0 },
        { name: 'input1', shape: [1], datatype: 'BOOL', data: [true], ...input1 },
      ],
    });

    it.each([
      [
        'an unknown model',
        '/v2/models/nope/infer',
        { inputs: [irisInput()] },
        404,
        /Request for unknown model: 'nope' is not found/,
      ],
      [
        'an unknown version',
        '/v2/models/iris/versions/5/infer',
        { inputs: [irisInput()] },
        404,
        /Version 5 of model 'iris' not found; loaded versions: 2, 1/,
      ],
      [
        'an unknown datatype',
        '/v2/models/iris/infer',
        { inputs: [irisInput({ datatype: 'FLOAT' })] },
        400,
        /inputs\[0\] 'features': unknown datatype 'FLOAT'; expected one of BOOL, UINT8.*\(input 'features' is FP32\)/,
      ],
      [
        'a BOOL datatype for a float input',
        '/v2/models/iris/infer',
        {
          inputs: [
            irisInput({ datatype: 'BOOL', shape: [1, 4], data: [true, false, true, false] }),
          ],
        },
        400,
        /datatype BOOL cannot feed input 'features', which is FP32 \[-1,4\]/,
      ],
      [
        'a numeric datatype for a bool input',
        '/v2/models/mymodel/infer',
        mymodel({}, { datatype: 'INT32', data: [1] }),
        400,
        /datatype INT32 cannot feed input 'input1', which is BOOL \[-1\]; send BOOL/,
      ],
      [
        'BYTES',
        '/v2/models/iris/infer',
        { inputs: [irisInput({ datatype: 'BYTES' })] },
        400,
        /datatype BYTES cannot feed input 'features'/,
      ],
      [
        'an INT64 beyond int32 range',
        '/v2/models/mymodel/infer',
        mymodel({ datatype: 'INT64', data: [1, 3000000000] }),
        400,
        /inputs\[0\] 'input0'.data\[1\] \(flat index\): expected an integer in int32 range \[-2147483648, 2147483647\], got 3000000000/,
      ],
      [
        'a fraction for an int input',
        '/v2/models/mymodel/infer',
        mymodel({ datatype: 'FP32', data: [1, 2.5] }),
        400,
        /data\[1\] \(flat index\): expected an integer in int32 range.*got 2.5/,
      ],
      [
        'a value outside its declared datatype',
        '/v2/models/iris/infer',
        { inputs: [irisInput({ datatype: 'UINT8', shape: [1, 4], data: [1, 2, 300, 4] })] },
        400,
        /data\[2\] \(flat index\): 300 is not a valid UINT8 \(expected an integer in \[0, 255\]\)/,
      ],
      [
        'a string in numeric data',
        '/v2/models/iris/infer',
        { inputs: [irisInput({ shape: [1, 4], data: [1, 2, 'x', 4] })] },
        400,
        /data\[2\] \(flat index\): expected a number \(float32\), got the string "x"/,
      ],
      [
        'a shape that does not match the element count',
        '/v2/models/iris/infer',
        { inputs: [irisInput({ shape: [3, 4] })] },
        400,
        /inputs\[0\] 'features': shape \[3,4\] holds 12 elements but data has 8/,
      ],
      [
        'nested data that does not match the shape',
        '/v2/models/iris/infer',
        {
          inputs: [
            irisInput({
              data: [
                [1, 2, 3, 4],
                [5, 6, 7],
              ],
            }),
          ],
        },
        400,
        /data\[1\] should be an array of 4 to match shape \[2,4\], got an array of 3/,
      ],
      [
        'a shape that does not fit the signature',
        '/v2/models/iris/infer',
        { inputs: [irisInput({ shape: [4, 2] })] },
        400,
        /shape \[4,2\] does not fit input 'features', which expects \[-1,4\]/,
      ],
      [
        'a missing input',
        '/v2/models/mymodel/infer',
        { inputs: [{ name: 'input0', shape: [1, 2], datatype: 'INT32', data: [1, 2] }] },
        400,
        /inputs: missing input\(s\) input1; the model's inputs are input0, input1/,
      ],
      [
        'an extra input',
        '/v2/models/iris/infer',
        { inputs: [irisInput(), { name: 'extra', shape: [1], datatype: 'FP32', data: [1] }] },
        400,
        /inputs: unknown input\(s\) extra; the model's inputs are features/,
      ],
      [
        'a duplicated input',
        '/v2/models/iris/infer',
        { inputs: [irisInput(), irisInput()] },
        400,
        /input 'features' is given more than once/,
      ],
      [
        'an unknown output',
        '/v2/models/iris/infer',
        { inputs: [irisInput()], outputs: [{ name: 'logits' }] },
        400,
        /outputs: unknown output 'logits'; the model's outputs are probabilities/,
      ],
      [
        'an input without datatype',
        '/v2/models/iris/infer',
        { inputs: [{ name: 'features', shape: [1, 4], data: [1, 2, 3, 4] }] },
        400,
        /inputs\[0\]: datatype must be a string/,
      ],
      [
        'a negative dimension',
        '/v2/models/iris/infer',
        { inputs: [irisInput({ shape: [-1, 4] })] },
        400,
        /inputs\[0\]: each value in shape must not be less than 0/,
      ],
      ['no inputs', '/v2/models/iris/infer', { inputs: [] }, 400, /inputs should not be empty/],
      [
        'inputs with different batch sizes for a layers model',
        '/v2/models/sensors/infer',
        {
          inputs: [
            {
              name: 'signal',
              shape: [2, 5],
              datatype: 'FP32',
              data: [1, 2, 3, 4, 5, 3, 4, 1, 2, 5],
            },
            { name: 'sensor', shape: [1, 2, 2], datatype: 'FP32', data: [1, 2, 3, 4] },
          ],
        },
        400,
        /every input needs the same 0-th dimension, got signal: 2, sensor: 1/,
      ],
    ])('should reject %s', async (_what, path, body, status, pattern) => {
      const res = await infer(path, body);
      expect(res.status).toBe(status);
      expect(Object.keys(res.body)).toEqual(['error']);
      expect(res.body.error).toMatch(pattern);
    });

    it('should use {"error"} for malformed JSON, raised before routing', async () => {
      const res = await http()
        .post('/v2/models/iris/infer')
        .set('Content-Type', 'application/json')
        .send('{"inputs": [');
      expect(res.status).toBe(400);
      expect(res.body).toEqual({ error: expect.stringMatching(/^Malformed JSON body/) });
    });

    it('should 404 unknown model metadata and readiness with {"error"}', async () => {
      for (const path of ['/v2/models/nope', '/v2/models/nope/ready']) {
        const res = await http().get(path).expect(404);
        expect(res.body).toEqual({
          error: expect.stringMatching(/Request for unknown model: 'nope' is not found/),
        });
      }
    });
  });
});

describe('V2 body limit and readiness, on an app of its own (e2e)', () => {
  let app: NestExpressApplication;

  beforeAll(async () => {
    app = await createTestApp({ BODY_LIMIT: '1kb' });
  });
  afterAll(() => closeApp(app));

  it.each(['/v1/models/iris:predict', '/v2/models/iris/infer'])(
    'should answer 413 {"error"} on %s',
    async (path) => {
      const big = { instances: Array.from({ length: 200 }, () => [5.1, 3.5, 1.4, 0.2]) };
      const res = await request(app.getHttpServer()).post(path).send(big);
      expect(res.status).toBe(413);
      expect(res.body).toEqual({ error: expect.stringMatching(/over the limit of 1024 bytes/) });
    },
  );

  it('should answer 503 {"ready": false} once shutdown begins, while live stays 200', async () => {
    app.get(ModelService).beginShutdown();
    const ready = await request(app.getHttpServer()).get('/v2/health/ready');
    expect(ready.status).toBe(503);
    expect(ready.body).toEqual({ ready: false });
    await request(app.getHttpServer()).get('/v2/health/live').expect(200, { live: true });
  });
});
