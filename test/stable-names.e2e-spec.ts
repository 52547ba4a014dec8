import * as tf from '@tensorflow/tfjs';
import { NestExpressApplication } from '@nestjs/platform-express';
import { cpSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import request from 'supertest';
import { saveLayersModel } from '../scripts/lib/model-writer';
import { makeRepository, removeRepository } from './utils/fixtures';
import { closeApp, createTestApp } from './utils/test-app';

/**
 * A layers model's tensor names are a function of its files: two identical unnamed Sequential
 * models get the same names whatever else is loaded, and a hot swap to a new version of the
 * same files keeps them, so a V2 client naming its tensors keeps working.
 */

/** An unnamed Sequential, as a user writes it: TF.js picks the layer name (dense_DenseN). */
async function unnamedSequential(dir: string): Promise<void> {
  const model = tf.sequential({
    layers: [tf.layers.dense({ units: 2, inputShape: [3], kernelInitializer: 'ones' })],
  });
  await saveLayersModel(model, dir);
  model.dispose();
}

interface V2Metadata {
  versions: string[];
  inputs: { name: string }[];
  outputs: { name: string }[];
}

describe('Stable layers model names (e2e)', () => {
  let root: string;
  let app: NestExpressApplication;

  const metadata = async (model: string): Promise<V2Metadata> => {
    const res = await request(app.getHttpServer()).get(`/v2/models/${model}`).expect(200);
    return res.body as V2Metadata;
  };
  const names = (m: V2Metadata) => ({
    inputs: m.inputs.map((t) => t.name),
    outputs: m.outputs.map((t) => t.name),
  });
  const infer = (model: string, m: V2Metadata) =>
    request(app.getHttpServer())
      .post(`/v2/models/${model}/infer`)
      .send({
        inputs: [{ name: m.inputs[0].name, shape: [1, 3], datatype: 'FP32', data: [1, 2, 3] }],
        outputs: [{ name: m.outputs[0].name }],
      });

  beforeAll(async () => {
    await tf.setBackend('cpu');
    // Identical files in both folders; the model built here also bumps TF.js's name counters.
    root = await makeRepository({ 'mine/1': unnamedSequential });
    cpSync(join(root, 'mine/1'), join(root, 'mine2/1'), { recursive: true });
    app = await createTestApp({ MODEL_DIR: root, MODEL_POLL_SECONDS: '0.1' });
  });
  afterAll(async () => {
    await closeApp(app);
    removeRepository(root);
  });

  it('should name identical models identically, from their model.json', async () => {
    const mine = await metadata('mine');
    const mine2 = await metadata('mine2');
    expect(names(mine)).toEqual(names(mine2));
    // Keras's names for an unnamed Sequential: `<first layer>_input` in, the last layer out.
    expect(mine.inputs[0].name).toMatch(/^dense_Dense\d+_input$/);
    expect(mine.outputs[0].name).toBe(mine.inputs[0].name.replace(/_input$/, ''));
  });

  it('should keep the names across a hot swap, and a V2 request naming them should work before and after', async () => {
    const before = await metadata('mine');
    const answer = await infer('mine', before).expect(200);
    // Weights all ones: each of the 2 outputs is 1 + 2 + 3.
    expect(answer.body).toMatchObject({
      model_version: '1',
      outputs: [{ name: before.outputs[0].name, shape: [1, 2], data: [6, 6] }],
    });

    const staging = join(root, 'mine', '.incoming-2');
    cpSync(join(root, 'mine/1'), staging, { recursive: true });
    renameSync(staging, join(root, 'mine', '2'));
    // Until version 1 is retired too: it is listed beside 2 from the moment 2 is ready until the
    // same hot-reload pass retires it, a window a loaded machine makes long.
    const deadline = Date.now() + 30_000;
    let after = before;
    while (after.versions.join() !== '2' && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      after = await metadata('mine');
    }
    expect(after.versions).toEqual(['2']);
    expect(names(after)).toEqual(names(before));
    const swapped = await infer('mine', before).expect(200);
    expect(swapped.body).toMatchObject({ model_version: '2', outputs: [{ data: [6, 6] }] });
    expect(names(await metadata('mine2'))).toEqual(names(before));
  });
});
