import * as tf from '@tensorflow/tfjs';
import { NestExpressApplication } from '@nestjs/platform-express';
import { existsSync, mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import { nextVersion, saveToRepository } from '../scripts/lib/model-writer';
import { saveExample } from '../scripts/save-model-example';
import { removeRepository } from './utils/fixtures';
import { closeApp, createTestApp } from './utils/test-app';

jest.setTimeout(60_000);

/** README "Add your own model", from TF.js code: saved with pure TF.js, then served as it is. */
describe('Saving your own TF.js model into the repository (e2e)', () => {
  let root: string;
  let app: NestExpressApplication | undefined;

  beforeAll(() => tf.setBackend('cpu'));
  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'save-model-'));
  });
  afterEach(async () => {
    await closeApp(app);
    app = undefined;
    removeRepository(root);
  });

  it("should save the README's example as the next version, and the server should serve what it learned", async () => {
    expect(await saveExample(root)).toBe(join(root, 'celsius', '1'));
    expect(await saveExample(root)).toBe(join(root, 'celsius', '2'));
    // Staging folders never stay behind.
    expect(readdirSync(join(root, 'celsius')).sort()).toEqual(['1', '2']);
    app = await createTestApp({ MODEL_DIR: root });
    const res = await request(app.getHttpServer())
      .post('/predict')
      .send({ instances: [[0], [100]] })
      .expect(200);
    expect(res.body.model).toBe('celsius');
    expect(res.body.version).toBe(2);
    expect(res.body.predictions[0][0]).toBeCloseTo(32, 0);
    expect(res.body.predictions[1][0]).toBeCloseTo(212, 0);
    const v2 = await request(app.getHttpServer()).get('/v2/models/celsius').expect(200);
    expect(v2.body.inputs[0].name).toBe('celsius');
    expect(v2.body.outputs[0].name).toBe('fahrenheit');
  });

  it('should write metadata.json beside the model, so labels shape /predict', async () => {
    const model = tf.sequential({
      layers: [tf.layers.dense({ units: 2, inputShape: [2], activation: 'softmax' })],
    });
    await saveToRepository(model, {
      repository: root,
      name: 'pair',
      version: 7,
      metadata: { description: 'two classes', labels: ['left', 'right'] },
    });
    app = await createTestApp({ MODEL_DIR: root });
    const info = await request(app.getHttpServer()).get('/models/pair').expect(200);
    expect(info.body.versions[0]).toMatchObject({
      description: 'two classes',
      labels: ['left', 'right'],
    });
    const res = await request(app.getHttpServer())
      .post('/predict')
      .send({ instances: [[1, 2]] })
      .expect(200);
    expect(res.body.version).toBe(7);
    expect(Object.keys(res.body.predictions[0].scores)).toEqual(['left', 'right']);
  });

  it('should never overwrite a version, and refuse names that are not a plain folder name', async () => {
    const model = tf.sequential({ layers: [tf.layers.dense({ units: 1, inputShape: [1] })] });
    await saveToRepository(model, { repository: root, name: 'm', version: 1 });
    await expect(
      saveToRepository(model, { repository: root, name: 'm', version: 1 }),
    ).rejects.toThrow(/m\/1 already exists; versions are never overwritten/);
    for (const name of ['../escape', '.hidden', 'a/b', '']) {
      await expect(saveToRepository(model, { repository: root, name })).rejects.toThrow(
        /use letters, digits/,
      );
    }
    await expect(
      saveToRepository(model, { repository: root, name: 'm', version: 0 }),
    ).rejects.toThrow(/versions are positive integers/);
    expect(existsSync(join(root, 'escape'))).toBe(false);
    expect(nextVersion(join(root, 'm'))).toBe(2);
    expect(nextVersion(join(root, 'new'))).toBe(1);
  });
});
