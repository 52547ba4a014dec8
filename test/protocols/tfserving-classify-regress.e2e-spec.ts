import { NestExpressApplication } from '@nestjs/platform-express';
import request from 'supertest';
import { closeApp, createTestApp } from '../utils/test-app';
import { makeProtocolRepository, removeRepository } from './protocol-fixtures';

const SETOSA = [5.1, 3.5, 1.4, 0.2];
const VIRGINICA = [6.7, 3.1, 5.6, 2.4];

/** TF Serving's :classify and :regress (api_rest.md), on real models from disk. */
describe('TF Serving :classify and :regress (e2e)', () => {
  let app: NestExpressApplication;
  let root: string;
  const post = (path: string, body: object) => request(app.getHttpServer()).post(path).send(body);

  beforeAll(async () => {
    root = await makeProtocolRepository();
    app = await createTestApp({ MODEL_DIR: root, MODEL_VERSION_POLICY: 'all' });
  });
  afterAll(async () => {
    await closeApp(app);
    removeRepository(root);
  });

  it("should answer api_rest.md's own regress example on half_plus_three", async () => {
    const res = await post('/v1/models/half_plus_three:regress', {
      signature_name: 'tensorflow/serving/regress',
      examples: [{ x: 1.0 }, { x: 2.0 }],
    }).expect(200);
    expect(res.body).toEqual({ results: [3.5, 4.0] });
  });

  it('should classify with every [label, score] per example, the scores those of :predict', async () => {
    const classify = await post('/v1/models/iris:classify', {
      examples: [{ features: SETOSA }, { features: VIRGINICA }],
    }).expect(200);
    const predict = await post('/v1/models/iris:predict', {
      instances: [SETOSA, VIRGINICA],
    }).expect(200);
    const labels = ['setosa', 'versicolor', 'virginica'];
    expect(classify.body).toEqual({
      results: (predict.body.predictions as number[][]).map((scores) =>
        scores.map((score, i) => [labels[i], score]),
      ),
    });
    const best = (pairs: [string, number][]) => pairs.reduce((a, b) => (b[1] > a[1] ? b : a))[0];
    expect(classify.body.results.map(best)).toEqual(['setosa', 'virginica']);
  });

  it('should serve both verbs on /versions/{v} too', async () => {
    const v1 = await post('/v1/models/iris/versions/1:classify', {
      examples: [{ features: SETOSA }],
    }).expect(200);
    const v1Predict = await post('/v1/models/iris/versions/1:predict', {
      instances: [SETOSA],
    }).expect(200);
    expect(v1.body.results[0].map((pair: [string, number]) => pair[1])).toEqual(
      v1Predict.body.predictions[0],
    );
    const linear = await post('/v1/models/linear/versions/1:regress', {
      examples: [{ x: 1.0 }, { x: [2.0] }],
    }).expect(200);
    const linearPredict = await post('/v1/models/linear:predict', {
      instances: [[1.0], [2.0]],
    }).expect(200);
    expect(linear.body).toEqual({ results: linearPredict.body.predictions.flat() });
    await post('/v1/models/iris/versions/7:classify', { examples: [{ features: SETOSA }] })
      .expect(404)
      .expect(({ body }) => expect(body.error).toMatch(/Version 7 of model 'iris' not found/));
  });

  it('should answer the /labels/{l} forms 404, as this server assigns no version labels', async () => {
    for (const verb of ['classify', 'regress']) {
      const res = await post(`/v1/models/iris/labels/stable:${verb}`, { examples: [] }).expect(404);
      expect(res.body.error).toMatch(
        /Unrecognized servable version label: 'stable' for model 'iris'/,
      );
    }
  });

  it('should take features shared by every example from "context"', async () => {
    const res = await post('/v1/models/half_plus_three:regress', {
      context: { x: 4.0 },
      examples: [{}, {}],
    }).expect(200);
    expect(res.body).toEqual({ results: [5, 5] });
  });

  it.each([
    [
      'classify on a model without labels',
      '/v1/models/linear:classify',
      { examples: [{ x: 1 }] },
      /^Model 'linear' cannot classify: its metadata.json has no "labels" .*its outputs are 'y' \[-1,1\]\)\. Use :predict/,
    ],
    [
      'regress on a model of several values per example',
      '/v1/models/iris:regress',
      { examples: [{ features: SETOSA }] },
      /^Model 'iris' cannot regress: regress needs a single numeric output of one value per example \(\[-1\] or \[-1,1\]\), but its outputs are 'probabilities' \[-1,3\]/,
    ],
    [
      'regress on a model of several outputs',
      '/v1/models/sensors:regress',
      { examples: [{}] },
      /^Model 'sensors' cannot regress: .*'signal_sum' \[-1,1\], 'sensor_sum' \[-1,1\]/,
    ],
    [
      'no examples',
      '/v1/models/iris:classify',
      { examples: [] },
      /^"examples" must be a non-empty list of objects, one per example, keyed by feature \(input\) name, e.g. \{"examples": \[\{"features": \.\.\.\}\]\}/,
    ],
    [
      'an example missing a feature',
      '/v1/models/iris:classify',
      { examples: [{ petals: SETOSA }] },
      /^examples\[0\]: missing input\(s\) features and unknown input\(s\) petals; the model's inputs are features/,
    ],
    [
      'a feature with too few values',
      '/v1/models/iris:classify',
      { examples: [{ features: SETOSA }, { features: [1, 2, 3] }] },
      /^examples\[1\]\.features: expected 4 values, got 3; input 'features' expects shape \[-1,4\]/,
    ],
    [
      'a value that is not a number',
      '/v1/models/half_plus_three:regress',
      { examples: [{ x: 'one' }] },
      /^examples\[0\]\.x: expected a number \(float32\), got the string "one"/,
    ],
    [
      'a feature both in context and in an example',
      '/v1/models/half_plus_three:regress',
      { context: { x: 1 }, examples: [{ x: 2 }] },
      /^examples\[0\]: feature\(s\) x also in "context"/,
    ],
    [
      'an unknown signature',
      '/v1/models/iris:classify',
      { signature_name: 'tensorflow/serving/regress', examples: [{ features: SETOSA }] },
      /^Serving signature name: "tensorflow\/serving\/regress" not found; model 'iris' answers classify on "serving_default"/,
    ],
  ])('should 400 %s, saying why', async (_what, path, body, message) => {
    const res = await post(path, body).expect(400);
    expect(Object.keys(res.body)).toEqual(['error']);
    expect(res.body.error).toMatch(message);
  });
});
