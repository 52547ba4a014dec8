import { BadRequestException, INestApplication, NotFoundException } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import request from 'supertest';
import { AppConfig, loadConfig } from '../src/config/app-config';
import { AppModule } from '../src/app.module';
import { InferencePool } from '../src/core/inference/inference-pool';
import { ModelService } from '../src/core/model.service';
import { PredictController } from '../src/edge/predict/predict.controller';
import { PredictService } from '../src/edge/predict/predict.service';

/**
 * The pattern this project recommends for testing your own controllers: the real module graph,
 * with the services behind the controller swapped for mocks through overrideProvider. A mock
 * replaces the real instance, so no model is read from disk and no TF.js backend starts.
 */
describe(PredictController.name, () => {
  let app: INestApplication;
  const modelService = { predict: jest.fn() };
  const models = {};

  beforeAll(async () => {
    const moduleRef = await Test.createTestingModule({ imports: [AppModule] })
      .overrideProvider(PredictService)
      .useValue(modelService)
      .overrideProvider(ModelService)
      .useValue(models)
      .overrideProvider(AppConfig)
      .useValue(loadConfig({ GRPC_PORT: '0' }))
      .compile();
    app = moduleRef.createNestApplication();
    await app.init();
  });
  afterAll(() => app.close());
  beforeEach(() => modelService.predict.mockReset());

  it('should load no model and start no inference thread while ModelService is a mock', () => {
    expect(app.get(InferencePool).snapshot()).toEqual([]);
  });

  it('should pass the validated body to PredictService.predict and return its result', async () => {
    const result = { model: 'm', version: 3, predictions: [[0.5]] };
    modelService.predict.mockResolvedValue(result);
    const body = { model: 'm', version: '3', instances: [[1, 2]] };

    const res = await request(app.getHttpServer()).post('/predict').send(body).expect(200);

    expect(res.body).toEqual(result);
    expect(modelService.predict).toHaveBeenCalledTimes(1);
    expect(modelService.predict).toHaveBeenCalledWith(expect.objectContaining(body));
  });

  it('should reject a body without instances before reaching the service', async () => {
    const res = await request(app.getHttpServer())
      .post('/predict')
      .send({ model: 'm' })
      .expect(400);
    expect(res.body.message).toMatch(/instances must be an array/);
    expect(modelService.predict).not.toHaveBeenCalled();
  });

  it('should reject a body that is not an object', async () => {
    const res = await request(app.getHttpServer()).post('/predict').send([1, 2]).expect(400);
    expect(res.body.message).toMatch(/must be a JSON object/);
    expect(modelService.predict).not.toHaveBeenCalled();
  });

  it('should not let a __proto__ key bypass validation', async () => {
    await request(app.getHttpServer())
      .post('/predict')
      .set('Content-Type', 'application/json')
      .send('{"__proto__": {"instances": [1]}}')
      .expect(400);
    expect(modelService.predict).not.toHaveBeenCalled();
  });

  it("should keep the service's 4xx status and message", async () => {
    modelService.predict.mockRejectedValueOnce(new NotFoundException("Model 'x' not found"));
    const notFound = await request(app.getHttpServer())
      .post('/predict')
      .send({ model: 'x', instances: [1] });
    expect(notFound.status).toBe(404);
    expect(notFound.body).toEqual({
      statusCode: 404,
      error: 'Not Found',
      message: "Model 'x' not found",
    });

    modelService.predict.mockRejectedValueOnce(new BadRequestException('instances[0]: bad'));
    await request(app.getHttpServer())
      .post('/predict')
      .send({ instances: [1] })
      .expect(400);
  });

  it('should turn multipart image files into instances (one Buffer each), with the non-empty text fields', async () => {
    modelService.predict.mockResolvedValue({ model: 'digits', version: 1, predictions: [] });
    await request(app.getHttpServer())
      .post('/predict')
      .field('model', 'digits')
      .field('version', '')
      .attach('image', Buffer.from('first'), 'a.png')
      .attach('image', Buffer.from('second'), 'b.png')
      .expect(200);
    expect(modelService.predict).toHaveBeenCalledWith(
      expect.objectContaining({
        model: 'digits',
        instances: [Buffer.from('first'), Buffer.from('second')],
      }),
    );
    // An empty form field is absent, as an HTML form (Swagger UI's) sends untouched inputs.
    expect(modelService.predict.mock.calls[0][0].version).toBeUndefined();
  });

  it('should refuse multipart without an image file, or with files in another field', async () => {
    const none = await request(app.getHttpServer())
      .post('/predict')
      .field('model', 'digits')
      .expect(400);
    expect(none.body.message).toMatch(/no file in field 'image'/);
    const other = await request(app.getHttpServer())
      .post('/predict')
      .attach('photo', Buffer.from('x'), 'a.png')
      .expect(400);
    expect(other.body.message).toMatch(
      /unexpected file field 'photo'; files go in the field 'image'/,
    );
    expect(modelService.predict).not.toHaveBeenCalled();
  });

  it('should refuse a malformed multipart body with a 400 that says so', async () => {
    const res = await request(app.getHttpServer())
      .post('/predict')
      .set('content-type', 'multipart/form-data; boundary=XYZ')
      .send('--XYZ\r\nContent-Disposition: form-data; name="image"; filename="a.png"\r\n\r\nabc')
      .expect(400);
    expect(res.body.message).toMatch(
      /^Malformed multipart\/form-data body: Unexpected end of form/,
    );
    expect(modelService.predict).not.toHaveBeenCalled();
  });

  it('should answer an unexpected failure with a generic 500 that leaks nothing', async () => {
    modelService.predict.mockRejectedValueOnce(new Error('secret internal detail'));
    const res = await request(app.getHttpServer())
      .post('/predict')
      .send({ instances: [1] })
      .expect(500);
    expect(res.body).toEqual({
      statusCode: 500,
      error: 'Internal Server Error',
      message: 'Internal server error',
    });
  });
});
