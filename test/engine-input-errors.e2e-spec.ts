import type { NestExpressApplication } from '@nestjs/platform-express';
import { join } from 'node:path';
import { graphOps, saveGraphModel } from '../scripts/lib/model-writer';
import { writeOnnxModel } from '../scripts/lib/onnx-writer';
import { listenOnLoopback } from './production/utils/http';
import { gatherOnnx, makeRepository, ModelWriter, removeRepository } from './utils/fixtures';
import { closeApp, createTestApp } from './utils/test-app';

/**
 * ONNX: sum = a + b, both float32 [batch, free]. Every check before the engine passes for any
 * widths, since each inner dimension is free on its own; ONNX Runtime refuses two different
 * widths when it runs the Add ("Attempting to broadcast an axis by a dimension other than 1").
 */
const pairSumOnnx: ModelWriter = (dir) =>
  writeOnnxModel(join(dir, 'model.onnx'), {
    name: 'pair',
    doc: 'adds two vectors of the same width',
    inputs: [
      { name: 'a', type: 'float32', shape: ['batch', 'width_a'] },
      { name: 'b', type: 'float32', shape: ['batch', 'width_b'] },
    ],
    outputs: [{ name: 'sum', type: 'float32', shape: ['batch', 'width_a'] }],
    initializers: [],
    nodes: [{ op: 'Add', inputs: ['a', 'b'], outputs: ['sum'] }],
  });

/** The same sum as a TF.js graph model: TF.js refuses the two widths when it runs AddV2. */
const pairSumGraph: ModelWriter = (dir) =>
  saveGraphModel(dir, {
    nodes: [
      graphOps.placeholder('a', 'float32', [-1, -1]),
      graphOps.placeholder('b', 'float32', [-1, -1]),
      graphOps.op('sum', 'AddV2', ['a', 'b']),
      graphOps.op('Identity', 'Identity', ['sum']),
    ],
    weights: [],
    inputs: {
      a: { node: 'a', dtype: 'float32', shape: [-1, -1] },
      b: { node: 'b', dtype: 'float32', shape: [-1, -1] },
    },
    outputs: { sum: { node: 'Identity', dtype: 'float32', shape: [-1, -1] } },
  });

const MISMATCH = /^model 'pair' version 1 cannot run on inputs 'a', 'b': .*broadcast/;

describe('An input the engine refuses after admission (e2e, real threads, ONNX Runtime and TF.js)', () => {
  let root: string;
  let app: NestExpressApplication | undefined;
  let url: string;

  beforeAll(async () => {
    root = await makeRepository({
      pair: pairSumOnnx,
      gather: gatherOnnx,
      'tfjs-pair': pairSumGraph,
    });
    app = await createTestApp({ MODEL_DIR: root, INFERENCE_THREADS: '1' });
    url = await listenOnLoopback(app);
  });
  afterAll(async () => {
    await closeApp(app);
    removeRepository(root);
  });

  const post = async (path: string, body: unknown) => {
    const res = await fetch(`${url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };
  const mismatched = { a: [1, 2, 3], b: [1, 2, 3, 4] };

  it("should answer /predict 400 naming the inputs, with ONNX Runtime's reason", async () => {
    const { status, body } = await post('/predict', { model: 'pair', instances: [mismatched] });
    expect(status).toBe(400);
    expect(body).toEqual({ statusCode: 400, error: 'Bad Request', message: expect.any(String) });
    expect(body.message).toMatch(MISMATCH);
  });

  it("should answer TF Serving's /v1 400 in its own body", async () => {
    const { status, body } = await post('/v1/models/pair:predict', { instances: [mismatched] });
    expect(status).toBe(400);
    expect(Object.keys(body)).toEqual(['error']);
    expect(body.error).toMatch(MISMATCH);
  });

  it("should answer V2's /v2 400 in its own body", async () => {
    const { status, body } = await post('/v2/models/pair/infer', {
      inputs: [
        { name: 'a', shape: [1, 3], datatype: 'FP32', data: mismatched.a },
        { name: 'b', shape: [1, 4], datatype: 'FP32', data: mismatched.b },
      ],
    });
    expect(status).toBe(400);
    expect(Object.keys(body)).toEqual(['error']);
    expect(body.error).toMatch(MISMATCH);
  });

  it('should name the one input of a model whose value the engine refuses (an index out of range)', async () => {
    const { status, body } = await post('/predict', { model: 'gather', instances: [50] });
    expect(status).toBe(400);
    expect(body.message).toMatch(
      /^model 'gather' version 1 cannot run on input 'index': .*indices element out of data bounds, idx=50/,
    );
  });

  it("should answer TF.js's refusal the same way: 400 naming the inputs, with TF.js's reason", async () => {
    const { status, body } = await post('/predict', {
      model: 'tfjs-pair',
      instances: [mismatched],
    });
    expect(status).toBe(400);
    expect(body.message).toMatch(
      /^model 'tfjs-pair' version 1 cannot run on inputs 'a', 'b': .*could not be broadcast/,
    );
  });

  it('should keep serving: the refusal did not cost the thread', async () => {
    const { status, body } = await post('/predict', {
      model: 'pair',
      instances: [{ a: [1, 2], b: [10, 20] }],
    });
    expect({ status, body }).toEqual({
      status: 200,
      body: { model: 'pair', version: 1, predictions: [[11, 22]] },
    });
  });
});
