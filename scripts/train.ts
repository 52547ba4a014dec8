/**
 * Trains and writes every model shipped in models/ (npm run train). Seeded and run on the
 * deterministic pure-JS cpu backend, so the output is the same on every machine.
 *
 *   linear/1      y = 3x + 2 + N(0, 0.1) regression, one feature (layers model)
 *   iris/1        logistic regression on the Iris data set (layers model)
 *   iris/2        a 4-16-3 MLP on the Iris data set (layers model)
 *   iris-graph/1  iris/2's weights as a GraphDef graph model with sharded weights
 *   digits/1      an MLP on MNIST digits that takes images (scripts/train-digits.ts)
 */
import * as tf from '@tensorflow/tfjs';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { gaussian, seededRandom, shuffled } from './lib/random';
import { graphOps, saveGraphModel, saveLayersModel, writeMetadata } from './lib/model-writer';
import { trainDigits } from './train-digits';
import { trainOnnx } from './train-onnx';

const ROOT = join(__dirname, '..');
const MODELS = join(ROOT, 'models');
const SEED = 42;

async function trainLinear(): Promise<void> {
  const random = seededRandom(SEED);
  const noise = gaussian(random);
  const [a, b] = [3, 2];
  const xs = Array.from({ length: 100 }, () => random());
  const ys = xs.map((x) => a * x + b + 0.1 * noise());

  const x = tf.input({ name: 'x', shape: [1] });
  const y = tf.layers
    .dense({
      name: 'y',
      units: 1,
      kernelInitializer: tf.initializers.glorotUniform({ seed: SEED }),
    })
    .apply(x) as tf.SymbolicTensor;
  const model = tf.model({ name: 'linear', inputs: x, outputs: y });
  model.compile({ optimizer: tf.train.adam(0.1), loss: 'meanSquaredError' });
  const history = await model.fit(tf.tensor2d(xs, [100, 1]), tf.tensor2d(ys, [100, 1]), {
    epochs: 300,
    batchSize: 100,
    shuffle: false,
    verbose: 0,
  });
  const [kernel, bias] = model.getWeights().map((w) => w.dataSync()[0]);
  const mse = history.history.loss.at(-1) as number;
  const dir = join(MODELS, 'linear', '1');
  await saveLayersModel(model, dir);
  writeMetadata(dir, {
    description: `Single-feature linear regression fitted to 100 samples of y = ${a}x + ${b} + N(0, 0.1). Input: one number x; output: y.`,
    training: { samples: 100, seed: SEED, fitted: { a: kernel, b: bias }, mse },
  });
  console.log(`linear/1   a=${kernel.toFixed(3)} b=${bias.toFixed(3)} mse=${mse.toFixed(4)}`);
}

interface IrisSplit {
  labels: string[];
  train: { x: number[][]; y: number[] };
  test: { x: number[][]; y: number[] };
}

/** Reads data/iris.csv and splits it 80/20, stratified by class, with a seeded shuffle. */
function loadIris(): IrisSplit {
  const rows = readFileSync(join(ROOT, 'data', 'iris.csv'), 'utf8')
    .trim()
    .split('\n')
    .slice(1);
  const parsed = rows.map((row) => row.split(','));
  const labels = [...new Set(parsed.map((r) => r[4]))];
  const split: IrisSplit = { labels, train: { x: [], y: [] }, test: { x: [], y: [] } };
  const random = seededRandom(SEED);
  for (const [classIndex, label] of labels.entries()) {
    const members = shuffled(
      parsed.filter((r) => r[4] === label),
      random,
    );
    members.forEach((row, i) => {
      const part = i < members.length * 0.8 ? split.train : split.test;
      part.x.push(row.slice(0, 4).map(Number));
      part.y.push(classIndex);
    });
  }
  const order = shuffled([...split.train.x.keys()], random);
  split.train = { x: order.map((i) => split.train.x[i]), y: order.map((i) => split.train.y[i]) };
  return split;
}

async function trainIris(
  version: number,
  hidden: number | null,
  data: IrisSplit,
): Promise<tf.LayersModel> {
  const init = (offset: number) => tf.initializers.glorotUniform({ seed: SEED + offset });
  const features = tf.input({ name: 'features', shape: [4] });
  let x = features;
  if (hidden !== null) {
    x = tf.layers
      .dense({ name: 'hidden', units: hidden, activation: 'relu', kernelInitializer: init(1) })
      .apply(x) as tf.SymbolicTensor;
  }
  const probabilities = tf.layers
    .dense({
      name: 'probabilities',
      units: data.labels.length,
      activation: 'softmax',
      kernelInitializer: init(2),
    })
    .apply(x) as tf.SymbolicTensor;
  const model = tf.model({ name: `iris_v${version}`, inputs: features, outputs: probabilities });
  model.compile({
    optimizer: tf.train.adam(0.02),
    loss: 'sparseCategoricalCrossentropy',
    metrics: ['accuracy'],
  });
  await model.fit(tf.tensor2d(data.train.x), tf.tensor1d(data.train.y, 'float32'), {
    epochs: 200,
    batchSize: 16,
    shuffle: false,
    verbose: 0,
  });
  const predicted = (model.predict(tf.tensor2d(data.test.x)) as tf.Tensor)
    .argMax(-1)
    .arraySync() as number[];
  const accuracy = predicted.filter((p, i) => p === data.test.y[i]).length / data.test.y.length;

  const dir = join(MODELS, 'iris', String(version));
  await saveLayersModel(model, dir);
  writeMetadata(dir, {
    description:
      `Iris species classifier (${hidden === null ? 'logistic regression' : `MLP 4-${hidden}-3`}) trained on Fisher's Iris data set. ` +
      'Input: [sepal_length, sepal_width, petal_length, petal_width] in cm.',
    labels: data.labels,
    training: {
      trainRows: data.train.y.length,
      testRows: data.test.y.length,
      seed: SEED,
      testAccuracy: accuracy,
    },
  });
  console.log(
    `iris/${version}     test accuracy ${(accuracy * 100).toFixed(1)}% on ${data.test.y.length} held-out rows`,
  );
  return model;
}

/** The same network as iris/2, written as a TensorFlow GraphDef: what tensorflowjs_converter emits. */
async function writeIrisGraph(mlp: tf.LayersModel, labels: string[]): Promise<void> {
  const [k1, b1, k2, b2] = mlp.getWeights();
  const prefix = 'StatefulPartitionedCall/sequential';
  const w = {
    k1: { name: `${prefix}/hidden/MatMul/ReadVariableOp`, tensor: k1 },
    b1: { name: `${prefix}/hidden/BiasAdd/ReadVariableOp`, tensor: b1 },
    k2: { name: `${prefix}/probabilities/MatMul/ReadVariableOp`, tensor: k2 },
    b2: { name: `${prefix}/probabilities/BiasAdd/ReadVariableOp`, tensor: b2 },
  };
  const matmul = { transpose_a: { b: false }, transpose_b: { b: false } };
  const nodes = [
    graphOps.placeholder('features', 'float32', [-1, 4]),
    ...Object.values(w).map(graphOps.weight),
    graphOps.op(`${prefix}/hidden/MatMul`, 'MatMul', ['features', w.k1.name], matmul),
    graphOps.op(`${prefix}/hidden/BiasAdd`, 'BiasAdd', [`${prefix}/hidden/MatMul`, w.b1.name]),
    graphOps.op(`${prefix}/hidden/Relu`, 'Relu', [`${prefix}/hidden/BiasAdd`]),
    graphOps.op(
      `${prefix}/probabilities/MatMul`,
      'MatMul',
      [`${prefix}/hidden/Relu`, w.k2.name],
      matmul,
    ),
    graphOps.op(`${prefix}/probabilities/BiasAdd`, 'BiasAdd', [
      `${prefix}/probabilities/MatMul`,
      w.b2.name,
    ]),
    graphOps.op(`${prefix}/probabilities/Softmax`, 'Softmax', [`${prefix}/probabilities/BiasAdd`]),
    graphOps.op('Identity', 'Identity', [`${prefix}/probabilities/Softmax`]),
  ];
  const dir = join(MODELS, 'iris-graph', '1');
  // Small shards on purpose, so the shipped graph model exercises multi-shard loading.
  await saveGraphModel(
    dir,
    {
      nodes,
      weights: Object.values(w),
      inputs: { features: { node: 'features', dtype: 'float32', shape: [-1, 4] } },
      outputs: { probabilities: { node: 'Identity', dtype: 'float32', shape: [-1, 3] } },
    },
    256,
  );
  writeMetadata(dir, {
    description:
      'iris/2 exported as a TensorFlow graph model (GraphDef JSON + sharded weights), the format tensorflowjs_converter writes.',
    labels,
  });
  console.log('iris-graph/1 written from iris/2 weights');
}

async function main(): Promise<void> {
  await tf.setBackend('cpu');
  rmSync(MODELS, { recursive: true, force: true });
  await trainLinear();
  const iris = loadIris();
  await trainIris(1, null, iris);
  const mlp = await trainIris(2, 16, iris);
  await writeIrisGraph(mlp, iris.labels);
  await trainDigits(MODELS, SEED);
  await trainOnnx();
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
