/**
 * The ONNX side of `npm run train`, no Python: ONNX graphs built in TypeScript with the weights
 * read back from the TF.js models just written, so both engines serve the same numbers.
 *
 *   models/linear-onnx/1     linear/1 as MatMul + Add
 *   models/iris-onnx/1       iris/2 as MatMul + Add + Relu + MatMul + Add + Softmax
 *   test/fixtures/cnn/       a small CNN in both formats with identical weights (benchmark and
 *                            engine-agreement fixture, not a shipped model)
 */
import * as tf from '@tensorflow/tfjs';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { saveLayersModel, writeMetadata } from './lib/model-writer';
import { OnnxGraph, readTfjsWeights, transpose, writeOnnxModel } from './lib/onnx-writer';

const ROOT = join(__dirname, '..');
const MODELS = join(ROOT, 'models');
export const CNN_FIXTURES = join(ROOT, 'test', 'fixtures', 'cnn');
const SEED = 42;
const BATCH = 'batch';

/** A dense layer (x @ kernel + bias) as MatMul + Add, the way tf2onnx and torch.onnx emit it. */
function dense(
  weights: ReturnType<typeof readTfjsWeights>,
  layer: string,
  input: string,
  output: string,
): Pick<OnnxGraph, 'initializers' | 'nodes'> {
  const kernel = weights.get(`${layer}/kernel`)!;
  const bias = weights.get(`${layer}/bias`)!;
  return {
    initializers: [
      { name: `${layer}.kernel`, dims: kernel.shape, data: kernel.data },
      { name: `${layer}.bias`, dims: bias.shape, data: bias.data },
    ],
    nodes: [
      { op: 'MatMul', inputs: [input, `${layer}.kernel`], outputs: [`${layer}.matmul`] },
      { op: 'Add', inputs: [`${layer}.matmul`, `${layer}.bias`], outputs: [output] },
    ],
  };
}

/** Same labels as the TF.js model, so /predict answers with the same classes from both engines. */
function copyMetadata(from: string, to: string, description: string): void {
  const { labels } = JSON.parse(readFileSync(join(from, 'metadata.json'), 'utf8')) as {
    labels?: string[];
  };
  writeMetadata(to, { description, ...(labels ? { labels } : {}) });
}

function writeLinear(): void {
  const from = join(MODELS, 'linear', '1');
  const to = join(MODELS, 'linear-onnx', '1');
  const layer = dense(readTfjsWeights(from), 'y', 'x', 'y');
  writeOnnxModel(join(to, 'model.onnx'), {
    name: 'linear',
    doc: 'linear/1 (y = a x + b) as an ONNX graph with the same weights',
    inputs: [{ name: 'x', type: 'float32', shape: [BATCH, 1] }],
    outputs: [{ name: 'y', type: 'float32', shape: [BATCH, 1] }],
    ...layer,
  });
  copyMetadata(
    from,
    to,
    'linear/1 exported to ONNX (MatMul + Add) with the same weights: the same answers from ONNX Runtime.',
  );
  console.log('linear-onnx/1 written from linear/1 weights');
}

function writeIris(): void {
  const from = join(MODELS, 'iris', '2');
  const to = join(MODELS, 'iris-onnx', '1');
  const weights = readTfjsWeights(from);
  const hidden = dense(weights, 'hidden', 'features', 'hidden.linear');
  const out = dense(weights, 'probabilities', 'hidden.relu', 'logits');
  writeOnnxModel(join(to, 'model.onnx'), {
    name: 'iris',
    doc: 'iris/2 (MLP 4-16-3) as an ONNX graph with the same weights',
    inputs: [{ name: 'features', type: 'float32', shape: [BATCH, 4] }],
    outputs: [{ name: 'probabilities', type: 'float32', shape: [BATCH, 3] }],
    initializers: [...hidden.initializers, ...out.initializers],
    nodes: [
      ...hidden.nodes,
      { op: 'Relu', inputs: ['hidden.linear'], outputs: ['hidden.relu'] },
      ...out.nodes,
      { op: 'Softmax', inputs: ['logits'], outputs: ['probabilities'], attributes: { axis: -1 } },
    ],
  });
  copyMetadata(
    from,
    to,
    'iris/2 (MLP 4-16-3) exported to ONNX with the same weights: the same answers from ONNX Runtime.',
  );
  console.log('iris-onnx/1 written from iris/2 weights');
}

/**
 * The benchmark CNN: a 64x64 RGB image, three VGG-style blocks (two 3x3 convs + relu, then a 2x2
 * max pool: 64x64 -> 8x8), a dense softmax over 10 classes. About 88 M multiply-adds per image:
 * heavy enough that inference, not JSON parsing, dominates a served request (~5 ms on one ORT
 * thread here), small enough to ship as a fixture (0.9 MB of weights per format).
 */
export const CNN_INPUT = [64, 64, 3];
const CNN_BLOCKS = [24, 48, 96];
const CNN_CLASSES = 10;
const CNN_CONVS = CNN_BLOCKS.flatMap((filters, b) =>
  ['a', 'b'].map((k) => ({ name: `conv${b + 1}${k}`, filters, poolAfter: k === 'b' })),
);

/**
 * A small image classifier with seeded random weights (it classifies nothing: it exists to be
 * timed and compared), as a TF.js layers model (NHWC, as TF.js runs it) and as ONNX with the
 * same weights. ONNX's Conv is NCHW, so the graph transposes the input in and the feature map
 * back before flattening, which keeps the Dense weights and the client's layout identical.
 */
async function writeCnn(): Promise<void> {
  const image = tf.input({ name: 'image', shape: CNN_INPUT });
  let x = image;
  CNN_CONVS.forEach(({ name, filters, poolAfter }, i) => {
    const conv = tf.layers.conv2d({
      name,
      filters,
      kernelSize: 3,
      padding: 'same',
      activation: 'relu',
      kernelInitializer: tf.initializers.glorotUniform({ seed: SEED + i }),
      biasInitializer: tf.initializers.randomUniform({
        minval: -0.05,
        maxval: 0.05,
        seed: SEED + 10 + i,
      }),
    });
    x = conv.apply(x) as tf.SymbolicTensor;
    if (poolAfter) {
      x = tf.layers
        .maxPooling2d({ name: `pool${name}`, poolSize: 2 })
        .apply(x) as tf.SymbolicTensor;
    }
  });
  const scores = tf.layers
    .dense({
      name: 'scores',
      units: CNN_CLASSES,
      activation: 'softmax',
      kernelInitializer: tf.initializers.glorotUniform({ seed: SEED + 20 }),
      biasInitializer: tf.initializers.randomUniform({
        minval: -0.05,
        maxval: 0.05,
        seed: SEED + 21,
      }),
    })
    .apply(tf.layers.flatten({ name: 'flatten' }).apply(x)) as tf.SymbolicTensor;
  const tfjsDir = join(CNN_FIXTURES, 'cnn-tfjs', '1');
  await saveLayersModel(tf.model({ name: 'cnn', inputs: image, outputs: scores }), tfjsDir);
  const description = `Benchmark CNN: ${CNN_INPUT.join('x')} image, 3 x (2 x (conv 3x3 + relu) + maxpool 2), dense ${CNN_CLASSES} softmax; seeded random weights`;
  writeMetadata(tfjsDir, { description });

  const weights = readTfjsWeights(tfjsDir);
  const graph: OnnxGraph = {
    name: 'cnn',
    doc: description,
    inputs: [{ name: 'image', type: 'float32', shape: [BATCH, ...CNN_INPUT] }],
    outputs: [{ name: 'scores', type: 'float32', shape: [BATCH, CNN_CLASSES] }],
    initializers: [],
    nodes: [
      {
        op: 'Transpose',
        inputs: ['image'],
        outputs: ['nchw'],
        attributes: { perm: [0, 3, 1, 2] },
      },
    ],
  };
  let current = 'nchw';
  for (const { name, poolAfter } of CNN_CONVS) {
    const kernel = transpose(weights.get(`${name}/kernel`)!, [3, 2, 0, 1]); // HWIO -> OIHW
    const bias = weights.get(`${name}/bias`)!;
    graph.initializers.push(
      { name: `${name}.weight`, dims: kernel.shape, data: kernel.data },
      { name: `${name}.bias`, dims: bias.shape, data: bias.data },
    );
    graph.nodes.push(
      {
        op: 'Conv',
        inputs: [current, `${name}.weight`, `${name}.bias`],
        outputs: [name],
        attributes: { kernel_shape: [3, 3], pads: [1, 1, 1, 1] },
      },
      { op: 'Relu', inputs: [name], outputs: [`${name}.relu`] },
    );
    current = `${name}.relu`;
    if (poolAfter) {
      graph.nodes.push({
        op: 'MaxPool',
        inputs: [current],
        outputs: [`${name}.pool`],
        attributes: { kernel_shape: [2, 2], strides: [2, 2] },
      });
      current = `${name}.pool`;
    }
  }
  const head = dense(weights, 'scores', 'flat', 'logits');
  graph.initializers.push(...head.initializers);
  graph.nodes.push(
    { op: 'Transpose', inputs: [current], outputs: ['nhwc'], attributes: { perm: [0, 2, 3, 1] } },
    { op: 'Flatten', inputs: ['nhwc'], outputs: ['flat'], attributes: { axis: 1 } },
    ...head.nodes,
    { op: 'Softmax', inputs: ['logits'], outputs: ['scores'], attributes: { axis: -1 } },
  );
  const onnxDir = join(CNN_FIXTURES, 'cnn-onnx', '1');
  writeOnnxModel(join(onnxDir, 'model.onnx'), graph);
  writeMetadata(onnxDir, { description: `${description} (the cnn-tfjs weights, as ONNX)` });
  console.log('test/fixtures/cnn: cnn-tfjs/1 and cnn-onnx/1 written with identical weights');
}

/** Called by scripts/train.ts after the TF.js models are written. */
export async function trainOnnx(): Promise<void> {
  writeLinear();
  writeIris();
  rmSync(CNN_FIXTURES, { recursive: true, force: true });
  await writeCnn();
}
