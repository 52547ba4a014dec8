import { NestExpressApplication } from '@nestjs/platform-express';
import request from 'supertest';
import { closeApp, createTestApp } from './utils/test-app';

const SETOSA = [5.1, 3.5, 1.4, 0.2];

/** What a new user trips over (issue 11): versions as numbers, wrong methods, metric labels. */
describe('New-user paper cuts (e2e, shipped models)', () => {
  let app: NestExpressApplication;
  const http = () => request(app.getHttpServer());

  beforeAll(async () => {
    app = await createTestApp({ MODEL_VERSION_POLICY: 'all' });
  });
  afterAll(() => closeApp(app));

  describe('"version" in POST /predict', () => {
    it('should accept a number, as responses give it, and a string alike', async () => {
      const asNumber = await http()
        .post('/predict')
        .send({ model: 'iris', version: 1, instances: [SETOSA] })
        .expect(200);
      const asString = await http()
        .post('/predict')
        .send({ model: 'iris', version: '1', instances: [SETOSA] })
        .expect(200);
      expect(asNumber.body.version).toBe(1);
      expect(asNumber.body).toEqual(asString.body);
      // The version a response names can be sent back as it is.
      const latest = await http()
        .post('/predict')
        .send({ model: 'iris', instances: [SETOSA] });
      await http()
        .post('/predict')
        .send({ model: 'iris', version: latest.body.version, instances: [SETOSA] })
        .expect(200);
    });

    it.each([0, -1, 1.5, '1.5', 'x', true, [1]])(
      'should refuse %p with a message saying what a version is',
      async (version) => {
        const res = await http()
          .post('/predict')
          .send({ model: 'iris', version, instances: [SETOSA] })
          .expect(400);
        expect(res.body.message).toMatch(
          /version must be a positive integer, as a number or a string \(e\.g\. 2 or "2"\)/,
        );
      },
    );

    it('should 404 a well-formed version that is not loaded', async () => {
      const res = await http()
        .post('/predict')
        .send({ model: 'iris', version: 9, instances: [SETOSA] })
        .expect(404);
      expect(res.body.message).toMatch(/Version 9 of model 'iris' not found/);
    });
  });

  describe('a wrong method on a known path', () => {
    it('should answer GET /predict with 405, Allow: POST, in the native error shape', async () => {
      const res = await http().get('/predict').expect(405);
      expect(res.headers.allow).toBe('POST');
      expect(res.body).toEqual({
        statusCode: 405,
        error: 'Method Not Allowed',
        message: 'Method GET is not allowed on /predict; allowed: POST',
      });
    });

    it('should answer the protocol paths with 405 and Allow in their {"error"} shape', async () => {
      const v1 = await http().post('/v1/models/iris').send({}).expect(405);
      expect(v1.headers.allow).toBe('GET, HEAD');
      expect(v1.body).toEqual({
        error: 'Method POST is not allowed on /v1/models/iris; allowed: GET, HEAD',
      });
      const v2 = await http().delete('/v2/models/iris/infer').expect(405);
      expect(v2.headers.allow).toBe('POST');
      expect(v2.body).toEqual({
        error: 'Method DELETE is not allowed on /v2/models/iris/infer; allowed: POST',
      });
      const models = await http().put('/models/iris').expect(405);
      expect(models.headers.allow).toBe('GET, HEAD');
    });

    it('should still 404 a path the server does not have, and an unknown model', async () => {
      const unknownPath = await http().get('/nope').expect(404);
      expect(unknownPath.headers.allow).toBeUndefined();
      await http().get('/models/nope').expect(404);
    });
  });

  it('should label TF Serving predict as /v1/models/:name:predict in the metrics (no escape)', async () => {
    await http()
      .post('/v1/models/iris/versions/1:predict')
      .send({ instances: [SETOSA] })
      .expect(200);
    await http()
      .post('/v1/models/iris:predict')
      .send({ instances: [SETOSA] })
      .expect(200);
    const metrics = (await http().get('/metrics').expect(200)).text;
    expect(metrics).toMatch(/http_requests_total\{[^}]*route="\/v1\/models\/:name:predict"/);
    expect(metrics).toMatch(
      /http_requests_total\{[^}]*route="\/v1\/models\/:name\/versions\/:version:predict"/,
    );
    expect(metrics).not.toContain('\\\\:predict');
  });
});
