/**
 * @jest-environment ./utils/ort-environment.js
 */
import { NestExpressApplication } from '@nestjs/platform-express';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import request from 'supertest';
import {
  copyShipped,
  fixedBatchOnnx,
  fixedBatchScalarOnnx,
  makeRepository,
  removeRepository,
} from './utils/fixtures';
import { closeApp, createTestApp } from './utils/test-app';

// Each app starts inference threads that load TF.js and ONNX Runtime: seconds on a busy machine.
jest.setTimeout(60_000);

const SILERO_REPOSITORY = join(__dirname, 'fixtures', 'onnx');
const SILERO_FILE = join(SILERO_REPOSITORY, 'silero-vad', '1', 'model.onnx');
const ROWS = [
  [5.1, 3.5, 1.4, 0.2],
  [6.7, 3.1, 5.6, 2.4],
  [5.9, 3.0, 4.2, 1.5],
];

/** Every number equal to float32 rounding (the two engines sum in different orders). */
function expectClose(actual: unknown, expected: unknown, tolerance = 1e-5): void {
  const flat = (v: unknown): number[] =>
    Array.isArray(v)
      ? v.flatMap(flat)
      : typeof v === 'object' && v
        ? Object.values(v).flatMap(flat)
        : typeof v === 'number'
          ? [v]
          : []; // labels: compared separately
  const a = flat(actual);
  const e = flat(expected);
  expect(a.length).toBe(e.length);
  expect(a.length).toBeGreaterThan(0);
  a.forEach((value, i) => expect(Math.abs(value - e[i])).toBeLessThan(tolerance));
}

describe('ONNX models served beside TF.js (e2e)', () => {
  let app: NestExpressApplication;
  const http = () => request(app.getHttpServer());

  beforeAll(async () => {
    app = await createTestApp();
  });
  afterAll(() => closeApp(app));

  it('should serve the shipped ONNX models and say which engine runs each', async () => {
    const { body } = await http().get('/models').expect(200);
    const names = (body as { models: { name: string }[] }).models.map((m) => m.name);
    expect(names).toEqual(expect.arrayContaining(['iris', 'iris-onnx', 'linear', 'linear-onnx']));
    const onnx = await http().get('/v2/models/iris-onnx').expect(200);
    expect(onnx.body).toEqual({
      name: 'iris-onnx',
      versions: ['1'],
      platform: 'onnxruntime_onnx',
      inputs: [{ name: 'features', datatype: 'FP32', shape: [-1, 4] }],
      outputs: [{ name: 'probabilities', datatype: 'FP32', shape: [-1, 3] }],
    });
    expect((await http().get('/v2/models/iris').expect(200)).body.platform).toBe(
      'tensorflowjs_layers',
    );
    expect((await http().get('/models/iris-onnx').expect(200)).body).toMatchObject({
      name: 'iris-onnx',
      versions: [
        {
          version: 1,
          platform: 'onnxruntime_onnx',
          batching: true,
          labels: ['setosa', 'versicolor', 'virginica'],
        },
      ],
    });
  });

  it('should report the backend each engine runs on, not the TF.js one for every model', async () => {
    const onnx = (await http().get('/models/iris-onnx').expect(200)).body;
    expect(onnx.backend).toBe('onnxruntime-cpu');
    expect(onnx.versions[0].backend).toBe('onnxruntime-cpu');
    const tfjs = (await http().get('/models/iris').expect(200)).body;
    expect(tfjs.backend).toBe('wasm');
    expect(tfjs.versions[0].backend).toBe('wasm');
  });

  it('should report the backend per version when the versions of a model use different engines', async () => {
    const root = await makeRepository({
      'mixed/1': copyShipped('iris/2'),
      'mixed/2': copyShipped('iris-onnx/1'),
    });
    const mixed = await createTestApp({ MODEL_DIR: root, MODEL_VERSION_POLICY: 'all' });
    try {
      const { body } = await request(mixed.getHttpServer()).get('/models/mixed').expect(200);
      expect(body.backend).toBe('onnxruntime-cpu'); // the default version's
      expect(
        (body.versions as { version: number; backend: string }[]).map((v) => [
          v.version,
          v.backend,
        ]),
      ).toEqual([
        [2, 'onnxruntime-cpu'],
        [1, 'wasm'],
      ]);
    } finally {
      await closeApp(mixed);
      removeRepository(root);
    }
  });

  it.each([
    ['iris', 'iris-onnx', ROWS],
    ['linear', 'linear-onnx', [[1], [2], [-3.5]]],
  ])('should answer %s and %s alike through /predict', async (tfjs, onnx, instances) => {
    const [a, b] = await Promise.all(
      [tfjs, onnx].map((model) => http().post('/predict').send({ model, instances }).expect(200)),
    );
    expect(b.body.model).toBe(onnx);
    expectClose(b.body.predictions, a.body.predictions);
    if (tfjs === 'iris') {
      const labels = (r: request.Response) =>
        (r.body.predictions as { label: string }[]).map((p) => p.label);
      expect(labels(b)).toEqual(labels(a));
    }
  });

  it('should answer alike through TF Serving rows, TF Serving columns and V2', async () => {
    const both = (path: (m: string) => string, body: object) =>
      Promise.all(['iris', 'iris-onnx'].map((m) => http().post(path(m)).send(body).expect(200)));
    const [rowsA, rowsB] = await both((m) => `/v1/models/${m}:predict`, { instances: ROWS });
    expectClose(rowsB.body.predictions, rowsA.body.predictions);
    const [colsA, colsB] = await both((m) => `/v1/models/${m}:predict`, {
      inputs: { features: ROWS },
    });
    expectClose(colsB.body.outputs, colsA.body.outputs);
    const v2 = {
      inputs: [{ name: 'features', shape: [3, 4], datatype: 'FP32', data: ROWS.flat() }],
    };
    const [v2A, v2B] = await both((m) => `/v2/models/${m}/infer`, v2);
    expect(v2B.body.outputs[0]).toMatchObject({
      name: 'probabilities',
      datatype: 'FP32',
      shape: [3, 3],
    });
    expectClose(v2B.body.outputs[0].data, v2A.body.outputs[0].data);
  });
});

describe('A third-party ONNX model: Silero VAD (e2e)', () => {
  let app: NestExpressApplication;
  let session: ort.InferenceSession;
  const http = () => request(app.getHttpServer());
  const audio = Array.from({ length: 512 }, (_, i) =>
    Number((0.5 * Math.sin(i * 0.17)).toFixed(4)),
  );
  const state = Array.from({ length: 128 }, (_, i) => Number((0.01 * Math.cos(i)).toFixed(4)));

  /** What ONNX Runtime itself answers for the same inputs, run directly in this process. */
  async function direct(): Promise<Record<string, number[]>> {
    const out = await session.run({
      input: new ort.Tensor('float32', Float32Array.from(audio), [1, 512]),
      sr: new ort.Tensor('int64', BigInt64Array.of(16000n), []),
      h: new ort.Tensor('float32', Float32Array.from(state), [2, 1, 64]),
      c: new ort.Tensor('float32', Float32Array.from(state), [2, 1, 64]),
    });
    return Object.fromEntries(
      Object.entries(out).map(([name, t]) => [name, Array.from(t.data as Float32Array)]),
    );
  }

  beforeAll(async () => {
    app = await createTestApp({ MODEL_DIR: SILERO_REPOSITORY });
    session = await ort.InferenceSession.create(SILERO_FILE);
  });
  afterAll(async () => {
    await session?.release();
    await closeApp(app);
  });

  it('should describe the int64 scalar and the state whose batch is not first', async () => {
    const { body } = await http().get('/v2/models/silero-vad').expect(200);
    expect(body.platform).toBe('onnxruntime_onnx');
    expect(body.inputs).toEqual([
      { name: 'input', datatype: 'FP32', shape: [-1, -1] },
      { name: 'sr', datatype: 'INT64', shape: [] },
      { name: 'h', datatype: 'FP32', shape: [2, -1, 64] },
      { name: 'c', datatype: 'FP32', shape: [2, -1, 64] },
    ]);
    // The warm-up finds the state's batch on axis 1 and the scalar: requests are never merged.
    const info = await http().get('/models/silero-vad').expect(200);
    expect(info.body.versions[0]).toMatchObject({ platform: 'onnxruntime_onnx', batching: false });
    const tfs = await http().get('/v1/models/silero-vad/metadata').expect(200);
    const sr = tfs.body.metadata.signature_def.signature_def.serving_default.inputs.sr;
    expect(sr).toMatchObject({ dtype: 'DT_INT64', tensor_shape: { dim: [] } });
  });

  it('should answer V2 requests exactly as ONNX Runtime run directly', async () => {
    const expected = await direct();
    const { body } = await http()
      .post('/v2/models/silero-vad/infer')
      .send({
        inputs: [
          { name: 'input', datatype: 'FP32', shape: [1, 512], data: audio },
          { name: 'sr', datatype: 'INT64', shape: [], data: [16000] },
          { name: 'h', datatype: 'FP32', shape: [2, 1, 64], data: state },
          { name: 'c', datatype: 'FP32', shape: [2, 1, 64], data: state },
        ],
      })
      .expect(200);
    const outputs = body.outputs as { name: string; shape: number[]; data: number[] }[];
    expect(outputs.map((o) => [o.name, o.shape])).toEqual([
      ['output', [1, 1]],
      ['hn', [2, 1, 64]],
      ['cn', [2, 1, 64]],
    ]);
    for (const output of outputs) expect(output.data).toEqual(expected[output.name]);
  });

  it('should answer TF Serving columnar requests exactly as ONNX Runtime run directly', async () => {
    const expected = await direct();
    const nest = (flat: number[]) => [0, 1].map((l) => [flat.slice(l * 64, l * 64 + 64)]);
    const { body } = await http()
      .post('/v1/models/silero-vad:predict')
      .send({ inputs: { input: [audio], sr: 16000, h: nest(state), c: nest(state) } })
      .expect(200);
    expect(body.outputs.output).toEqual([expected.output]);
    expect(body.outputs.hn).toEqual(nest(expected.hn));
    expect(body.outputs.cn).toEqual(nest(expected.cn));
  });

  it('should refuse an int64 a JSON number cannot hold exactly, saying so', async () => {
    const { body } = await http()
      .post('/v2/models/silero-vad/infer')
      .send({
        inputs: [
          { name: 'input', datatype: 'FP32', shape: [1, 512], data: audio },
          { name: 'sr', datatype: 'INT64', shape: [], data: [2 ** 60] },
          { name: 'h', datatype: 'FP32', shape: [2, 1, 64], data: state },
          { name: 'c', datatype: 'FP32', shape: [2, 1, 64], data: state },
        ],
      })
      .expect(400);
    expect(body.error).toMatch(
      /inputs\[1\].*data\[0\] \(flat index\): 1152921504606847000 is outside the range a JSON number holds exactly for int64/,
    );
  });
});

describe('ONNX models with a fixed batch dimension (e2e)', () => {
  let app: NestExpressApplication;
  let root: string;
  const http = () => request(app.getHttpServer());
  const rows = [
    [1, 2, 3, 4],
    [-0.5, 0.25, 8, 1.5],
    [0, 0, 0, 0],
  ];

  beforeAll(async () => {
    root = await makeRepository({ 'fixed/1': fixedBatchOnnx, 'total/1': fixedBatchScalarOnnx });
    app = await createTestApp({ MODEL_DIR: root });
  });
  afterAll(async () => {
    await closeApp(app);
    removeRepository(root);
  });

  it('should answer 3 instances with exactly the rows of 3 single requests', async () => {
    const alone: number[][] = [];
    for (const row of rows) {
      const { body } = await http()
        .post('/predict')
        .send({ model: 'fixed', instances: [row] })
        .expect(200);
      alone.push(...(body.predictions as number[][]));
    }
    // x W + b worked out by hand: the single requests are right, and so differ from each other.
    expectClose(alone, [
      [2.5, 18.5, 6],
      [21, 9.25, 2.25],
      [0.5, -1, 2],
    ]);
    const together = await http()
      .post('/predict')
      .send({ model: 'fixed', instances: rows })
      .expect(200);
    expect(together.body.predictions).toEqual(alone);
    const tfs = await http().post('/v1/models/fixed:predict').send({ instances: rows }).expect(200);
    expect(tfs.body.predictions).toEqual(alone);
    const v2 = await http()
      .post('/v2/models/fixed/infer')
      .send({ inputs: [{ name: 'x', shape: [3, 4], datatype: 'FP32', data: rows.flat() }] })
      .expect(200);
    expect(v2.body.outputs[0]).toMatchObject({ name: 'y', shape: [3, 3], data: alone.flat() });
  });

  it('should refuse several rows, not guess, when an output does not start with the fixed batch', async () => {
    const one = await http()
      .post('/predict')
      .send({ model: 'total', instances: [rows[0]] })
      .expect(200);
    expect(one.body.predictions).toEqual([10]);
    const { body } = await http()
      .post('/predict')
      .send({ model: 'total', instances: rows })
      .expect(400);
    expect(body.message).toMatch(
      /model 'total' version 1 has a fixed batch size of 1, but its output 'total' is \[\] for 1 row\(s\).*send 1 instance\(s\) per request/,
    );
  });
});
