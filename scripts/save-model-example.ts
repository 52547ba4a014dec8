/**
 * "Add your own model" from TF.js code (README): builds and trains a small model in TypeScript
 * and saves it into the server's model repository with saveToRepository from the package entry,
 * on a default install (no tfjs-node, so no `file://` handler is needed).
 *
 *   npx ts-node scripts/save-model-example.ts [repository]     # default: models
 *
 * writes <repository>/celsius/<next version>/ with a model learning Fahrenheit = 1.8 C + 32.
 */
import * as tf from '@tensorflow/tfjs';
import { saveToRepository } from '../src';

export async function saveExample(repository: string): Promise<string> {
  // Name the input and output layers: they become the tensor names clients use (V2, TF Serving).
  const celsius = tf.input({ name: 'celsius', shape: [1] });
  const fahrenheit = tf.layers.dense({ name: 'fahrenheit', units: 1 }).apply(celsius);
  const model = tf.model({
    name: 'celsius',
    inputs: celsius,
    outputs: fahrenheit as tf.SymbolicTensor,
  });
  model.compile({ optimizer: tf.train.adam(0.5), loss: 'meanSquaredError' });

  const c = [-40, -10, 0, 8, 15, 22, 38, 100];
  const xs = tf.tensor2d(c, [c.length, 1]);
  const ys = tf.tensor2d(
    c.map((v) => 1.8 * v + 32),
    [c.length, 1],
  );
  await model.fit(xs, ys, { epochs: 500, batchSize: c.length, verbose: 0 });
  tf.dispose([xs, ys]);

  const dir = await saveToRepository(model, {
    repository,
    name: 'celsius',
    metadata: {
      description: 'Celsius to Fahrenheit, learned from 8 examples (scripts/save-model-example.ts)',
    },
  });
  model.dispose();
  return dir;
}

if (require.main === module) {
  saveExample(process.argv[2] ?? 'models').then(
    (dir) => console.log(`saved ${dir}`),
    (error: Error) => {
      console.error(error.message);
      process.exit(1);
    },
  );
}
