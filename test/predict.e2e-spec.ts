import { NestExpressApplication } from '@nestjs/platform-express';
import request from 'supertest';
import { closeApp, createTestApp } from './utils/test-app';

describe('POST /predict (e2e, shipped models)', () => {
  let app: NestExpressApplication;

  beforeAll(async () => {
    app = await createTestApp({ MODEL_VERSION_POLICY: 'all' });
  });
  afterAll(() => closeApp(app));

  it('should classify iris instances with labels and per-label scores', async () => {
    const res = await request(app.getHttpServer())
      .post('/predict')
      .send({ model: 'iris', instances: [[5.1, 3.5, 1.4, 0.2], [6.7, 3.1, 5.6, 2.4]] })
      .expect(200);
    expect(res.body.model).toBe('iris');
    expect(res.body.version).toBe(2);
    expect(res.body.predictions.map((p: { label: string }) => p.label)).toEqual(['setosa', 'virginica']);
  });
});
