import { NestExpressApplication } from '@nestjs/platform-express';
import { join } from 'node:path';
import request from 'supertest';
import { closeApp, createTestApp } from './utils/test-app';

const CONVERTED = join(__dirname, 'fixtures', 'converted');

/** A graph model written by tensorflowjs_converter from a TF Hub SavedModel, served with no code change. */
describe('A real tensorflowjs_converter model (MoveNet Lightning) dropped into a repository (e2e)', () => {
  let app: NestExpressApplication;
  const image = (value: number) =>
    Array.from({ length: 192 }, () => Array.from({ length: 192 }, () => [value, value, value]));

  beforeAll(async () => {
    app = await createTestApp({ MODEL_DIR: CONVERTED });
  }, 60_000);
  afterAll(() => closeApp(app));

  it('should read its signature from model.json: int32 input with a fixed batch of 1', async () => {
    const res = await request(app.getHttpServer()).get('/models/movenet-lightning').expect(200);
    expect(res.body.versions[0]).toMatchObject({
      format: 'graph-model',
      inputs: [{ name: 'input:0', dtype: 'int32', shape: [1, 192, 192, 3] }],
      outputs: [{ name: 'Identity:0', dtype: 'float32', shape: [1, 1, 17, 3] }],
    });
  });

  it('should return 17 keypoints (y, x, score in [0, 1]) per image, running a batch one image at a time', async () => {
    const res = await request(app.getHttpServer())
      .post('/predict')
      .send({ instances: [image(128), image(128), image(30)] })
      .expect(200);
    const [first, second, third] = res.body.predictions as number[][][][];
    expect(first).toHaveLength(1);
    expect(first[0]).toHaveLength(17);
    for (const [y, x, score] of first[0]) {
      for (const v of [y, x, score]) expect(v >= 0 && v <= 1).toBe(true);
    }
    expect(second).toEqual(first);
    expect(third).not.toEqual(first);
  });

  it('should reject pixel values that are not integers, as the int32 input requires', async () => {
    const bad = image(128);
    bad[5][7][1] = 0.5;
    const res = await request(app.getHttpServer())
      .post('/predict')
      .send({ instances: [bad] })
      .expect(400);
    expect(res.body.message).toMatch(
      /instances\[0\]\[5\]\[7\]\[1\]: expected an integer in int32 range/,
    );
  });
});
