import * as tf from '@tensorflow/tfjs';
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  graphOps,
  saveGraphModel,
  saveLayersModel,
  writeMetadata,
} from '../../scripts/lib/model-writer';
import { writeOnnxModel } from '../../scripts/lib/onnx-writer';
import { quietTfjs } from '../../src/engines/tfjs/tfjs-backend';
import { SHIPPED_MODELS } from './test-app';

// TF.js's cpu backend writes these fixtures on purpose: no "install tfjs-node" banner per test file.
quietTfjs();

/**
 * Model repositories for tests, written at test time with the same writers `npm run train` uses,
 * so the fixtures are real TF.js models on disk and not mocks.
 */

export type ModelWriter = (dir: string) => Promise<void> | void;

/** Creates `<tmp>/<name>/<version>/...` for every entry, e.g. { 'iris/2': copyShipped('iris/2') }. */
export async function makeRepository(entries: Record<string, ModelWriter>): Promise<string> {
  const root = mkdtempSync(join(tmpdir(), 'model-repo-'));
  for (const [path, write] of Object.entries(entries)) await write(join(root, path));
  return root;
}

export function removeRepository(root: string): void {
  rmSync(root, { recursive: true, force: true });
}

export const copyShipped =
  (path: string): ModelWriter =>
  (dir) =>
    cpSync(join(SHIPPED_MODELS, path), dir, { recursive: true });

const matmul = { transpose_a: { b: false }, transpose_b: { b: false } };

/** Graph model with an int32 input: ids [-1,3] -> cast to float -> dot with [1,2,3]. */
export const int32Graph: ModelWriter = (dir) =>
  saveGraphModel(dir, {
    nodes: [
      graphOps.placeholder('ids', 'int32', [-1, 3]),
      graphOps.weight({ name: 'w', tensor: tf.tensor2d([[1], [2], [3]]) }),
      {
        name: 'cast',
        op: 'Cast',
        input: ['ids'],
        attr: { SrcT: { type: 'DT_INT32' }, DstT: { type: 'DT_FLOAT' } },
      },
      graphOps.op('dot', 'MatMul', ['cast', 'w'], matmul),
      graphOps.op('Identity', 'Identity', ['dot']),
    ],
    weights: [{ name: 'w', tensor: tf.tensor2d([[1], [2], [3]]) }],
    inputs: { ids: { node: 'ids', dtype: 'int32', shape: [-1, 3] } },
    outputs: { weighted_sum: { node: 'Identity', dtype: 'float32', shape: [-1, 1] } },
  });

/** Graph model with a fixed batch dimension, like MoveNet's [1,192,192,3]: x [1,2] -> x * [10,100]. */
export const fixedBatchGraph: ModelWriter = (dir) =>
  saveGraphModel(dir, {
    nodes: [
      graphOps.placeholder('x', 'float32', [1, 2]),
      graphOps.weight({ name: 'scale', tensor: tf.tensor1d([10, 100]) }),
      graphOps.op('scaled', 'Mul', ['x', 'scale']),
      graphOps.op('Identity', 'Identity', ['scaled']),
    ],
    weights: [{ name: 'scale', tensor: tf.tensor1d([10, 100]) }],
    inputs: { x: { node: 'x', dtype: 'float32', shape: [1, 2] } },
    outputs: { y: { node: 'Identity', dtype: 'float32', shape: [1, 2] } },
  });

/** Layers model with two named inputs and two named outputs: sum = a0 + a1 + b, doubled = 2b. */
export const multiIoLayers: ModelWriter = async (dir) => {
  const a = tf.input({ name: 'a', shape: [2] });
  const b = tf.input({ name: 'b', shape: [1] });
  const joined = tf.layers.concatenate({ name: 'joined' }).apply([a, b]) as tf.SymbolicTensor;
  const sum = tf.layers
    .dense({ name: 'sum', units: 1, useBias: false, kernelInitializer: 'ones' })
    .apply(joined);
  const doubled = tf.layers
    .dense({
      name: 'doubled',
      units: 1,
      useBias: false,
      kernelInitializer: tf.initializers.constant({ value: 2 }),
    })
    .apply(b);
  const model = tf.model({ inputs: [a, b], outputs: [sum, doubled] as tf.SymbolicTensor[] });
  await saveLayersModel(model, dir);
};

/** An image model taking 224x224x3 floats: global average pooling then a dense layer of 2. */
export const imageLayers: ModelWriter = async (dir) => {
  const image = tf.input({ name: 'image', shape: [224, 224, 3] });
  const pooled = tf.layers.globalAveragePooling2d({ name: 'pool' }).apply(image);
  const out = tf.layers
    .dense({ name: 'logits', units: 2, kernelInitializer: 'ones' })
    .apply(pooled);
  await saveLayersModel(tf.model({ inputs: image, outputs: out as tf.SymbolicTensor }), dir);
  writeMetadata(dir, { description: 'test image model' });
};

// ---- Broken models, for fail-fast tests ----

export const corruptModelJson: ModelWriter = (dir) => {
  copyShipped('linear/1')(dir);
  writeFileSync(join(dir, 'model.json'), '{"modelTopology": {"class_name": "Model", ');
};

export const missingShard: ModelWriter = (dir) => {
  copyShipped('iris-graph/1')(dir);
  rmSync(join(dir, 'group1-shard2of3.bin'));
};

export const truncatedShard: ModelWriter = (dir) => {
  copyShipped('linear/1')(dir);
  writeFileSync(join(dir, 'group1-shard1of1.bin'), Buffer.alloc(3));
};

/** A graph whose op TF.js does not implement: loads as JSON, fails when the graph is built or run. */
export const unknownOpGraph: ModelWriter = (dir) =>
  saveGraphModel(dir, {
    nodes: [
      graphOps.placeholder('x', 'float32', [-1, 2]),
      graphOps.op('weird', 'NoSuchTensorFlowOp', ['x']),
      graphOps.op('Identity', 'Identity', ['weird']),
    ],
    weights: [],
    inputs: { x: { node: 'x', dtype: 'float32', shape: [-1, 2] } },
    outputs: { y: { node: 'Identity', dtype: 'float32', shape: [-1, 2] } },
  });

export const labelsMismatch: ModelWriter = (dir) => {
  copyShipped('iris/2')(dir);
  writeMetadata(dir, { labels: ['only', 'two'] });
};

const sumRows = (name: string, input: string, axis: string) =>
  graphOps.op(name, 'Sum', [input, axis], { keep_dims: { b: true }, Tidx: { type: 'DT_INT32' } });

/**
 * Not batch-major: x [-1,2] -> the sum over the batch, [1,2]. Its output does not follow the
 * batch, so merging two requests would mix their answers: it must run request by request.
 */
export const batchSumGraph: ModelWriter = (dir) => {
  const axis = tf.tensor1d([0], 'int32');
  return saveGraphModel(dir, {
    nodes: [
      graphOps.placeholder('x', 'float32', [-1, 2]),
      graphOps.weight({ name: 'axis', tensor: axis }),
      sumRows('total', 'x', 'axis'),
      graphOps.op('Identity', 'Identity', ['total']),
    ],
    weights: [{ name: 'axis', tensor: axis }],
    inputs: { x: { node: 'x', dtype: 'float32', shape: [-1, 2] } },
    outputs: { total: { node: 'Identity', dtype: 'float32', shape: [1, 2] } },
  });
};

/** Batch-major with a free inner dimension: x [-1,-1] -> each row's sum, [-1,1]. */
export const rowSumGraph: ModelWriter = (dir) => {
  const axis = tf.tensor1d([1], 'int32');
  return saveGraphModel(dir, {
    nodes: [
      graphOps.placeholder('x', 'float32', [-1, -1]),
      graphOps.weight({ name: 'axis', tensor: axis }),
      sumRows('total', 'x', 'axis'),
      graphOps.op('Identity', 'Identity', ['total']),
    ],
    weights: [{ name: 'axis', tensor: axis }],
    inputs: { x: { node: 'x', dtype: 'float32', shape: [-1, -1] } },
    outputs: { total: { node: 'Identity', dtype: 'float32', shape: [-1, 1] } },
  });
};

export const SLOW_WIDTH = 512;

/**
 * A deliberately slow model for tests of timing behaviour: x [-1,512] multiplied `repeats` times
 * by the identity (one shared 1 MB weight), then summed per row: y = sum(x) as [-1,1], at a cost
 * of repeats x 512 x 512 multiply-adds per row (about 5 ms per row with 40 repeats on wasm here).
 */
export const slowGraph =
  (repeats = 40): ModelWriter =>
  (dir) => {
    const eye = tf.eye(SLOW_WIDTH);
    const axis = tf.tensor1d([1], 'int32');
    const chain = Array.from({ length: repeats }, (_, i) =>
      graphOps.op(`mm${i}`, 'MatMul', [i === 0 ? 'x' : `mm${i - 1}`, 'eye'], matmul),
    );
    return saveGraphModel(dir, {
      nodes: [
        graphOps.placeholder('x', 'float32', [-1, SLOW_WIDTH]),
        graphOps.weight({ name: 'eye', tensor: eye }),
        graphOps.weight({ name: 'axis', tensor: axis }),
        ...chain,
        sumRows('total', `mm${repeats - 1}`, 'axis'),
        graphOps.op('Identity', 'Identity', ['total']),
      ],
      weights: [
        { name: 'eye', tensor: eye },
        { name: 'axis', tensor: axis },
      ],
      inputs: { x: { node: 'x', dtype: 'float32', shape: [-1, SLOW_WIDTH] } },
      outputs: { y: { node: 'Identity', dtype: 'float32', shape: [-1, 1] } },
    });
  };

/** How much `upsampleLayers` enlarges each spatial dimension inside the model. */
export const UPSAMPLE = 256;

/**
 * A fully-convolutional layers model whose memory grows with its input: image [-1,-1,-1,1] is
 * upsampled 256x (nearest) then average-pooled 256x back, so it answers its input unchanged
 * while holding 65,536 floats per input pixel: one 16x16 instance takes 64 MB inside the model,
 * 64 of them more than a wasm heap can hold.
 */
export const upsampleLayers: ModelWriter = (dir) => upsample(dir, [null, null, null, 1]);

/** The same with a fixed input [64,16,16,1]: its warm-up alone needs 4 GiB, so it cannot load. */
export const hugeUpsampleLayers: ModelWriter = (dir) => upsample(dir, [64, 16, 16, 1]);

async function upsample(dir: string, batchShape: (number | null)[]): Promise<void> {
  const image = tf.input({ name: 'image', batchShape });
  const up = tf.layers.upSampling2d({ name: 'up', size: [UPSAMPLE, UPSAMPLE] }).apply(image);
  const down = tf.layers
    .averagePooling2d({ name: 'down', poolSize: UPSAMPLE, strides: UPSAMPLE })
    .apply(up);
  await saveLayersModel(tf.model({ inputs: image, outputs: down as tf.SymbolicTensor }), dir);
}

/** Rows of the table `gatherOnnx` looks up: row i is [10i, 10i+1, 10i+2]. */
export const GATHER_ROWS = 10;

/**
 * ONNX: index int32 [-1] -> Cast to int64 -> Gather(table[10,3], axis 0) -> row [-1,3]. Every
 * check before the engine passes for any int32, so an index of 10 or more fails only inside
 * ONNX Runtime ("indices element out of data bounds").
 */
export const gatherOnnx: ModelWriter = (dir) => {
  const table = Float32Array.from(
    { length: GATHER_ROWS * 3 },
    (_, i) => 10 * Math.floor(i / 3) + (i % 3),
  );
  writeOnnxModel(join(dir, 'model.onnx'), {
    name: 'gather',
    doc: 'looks up one row of a 10x3 table per index',
    inputs: [{ name: 'index', type: 'int32', shape: ['batch'] }],
    outputs: [{ name: 'row', type: 'float32', shape: ['batch', 3] }],
    initializers: [{ name: 'table', dims: [GATHER_ROWS, 3], data: table }],
    nodes: [
      { op: 'Cast', inputs: ['index'], outputs: ['index64'], attributes: { to: 7 } },
      { op: 'Gather', inputs: ['table', 'index64'], outputs: ['row'], attributes: { axis: 0 } },
    ],
  });
};

/** The weights of `fixedBatchOnnx`: y = x W + b, with x [1,4] and y [1,3]. */
const FIXED_ONNX_W = Float32Array.from([1, 0, 2, 0, 1, -1, 3, 0.5, 0, -2, 4, 1]);
const FIXED_ONNX_B = Float32Array.from([0.5, -1, 2]);

/**
 * ONNX with a fixed batch of 1, as `torch.onnx.export` writes a model without dynamic_axes:
 * x float32 [1,4] -> MatMul(W [4,3]) -> Add(b [3]) -> y [1,3]. ONNX Runtime refuses any other
 * batch ("Got invalid dimensions for input"), so more rows can only run in chunks.
 */
export const fixedBatchOnnx: ModelWriter = (dir) =>
  writeOnnxModel(join(dir, 'model.onnx'), {
    name: 'fixed-batch-linear',
    doc: 'y = x W + b for exactly one row',
    inputs: [{ name: 'x', type: 'float32', shape: [1, 4] }],
    outputs: [{ name: 'y', type: 'float32', shape: [1, 3] }],
    initializers: [
      { name: 'W', dims: [4, 3], data: FIXED_ONNX_W },
      { name: 'b', dims: [3], data: FIXED_ONNX_B },
    ],
    nodes: [
      { op: 'MatMul', inputs: ['x', 'W'], outputs: ['xw'] },
      { op: 'Add', inputs: ['xw', 'b'], outputs: ['y'] },
    ],
  });

/**
 * ONNX with a fixed batch of 1 whose output drops the batch: x [1,4] -> ReduceSum over every
 * axis -> a scalar. One row is answered; the outputs of several chunks cannot be joined.
 */
export const fixedBatchScalarOnnx: ModelWriter = (dir) =>
  writeOnnxModel(join(dir, 'model.onnx'), {
    name: 'fixed-batch-total',
    doc: 'the sum of one row, as a scalar',
    inputs: [{ name: 'x', type: 'float32', shape: [1, 4] }],
    outputs: [{ name: 'total', type: 'float32', shape: [] }],
    initializers: [],
    nodes: [{ op: 'ReduceSum', inputs: ['x'], outputs: ['total'], attributes: { keepdims: 0 } }],
  });

/** TF.js graph model with a string input returned as it is: x [-1,-1] strings -> Identity -> y. */
export const stringIdentityGraph: ModelWriter = (dir) =>
  saveGraphModel(dir, {
    nodes: [
      graphOps.placeholder('x', 'string', [-1, -1]),
      { name: 'Identity', op: 'Identity', input: ['x'], attr: { T: { type: 'DT_STRING' } } },
    ],
    weights: [],
    inputs: { x: { node: 'x', dtype: 'string', shape: [-1, -1] } },
    outputs: { y: { node: 'Identity', dtype: 'string', shape: [-1, -1] } },
  });
