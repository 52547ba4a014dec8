import { status, type Client } from '@grpc/grpc-js';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import request from 'supertest';
import { loadProtos, PROTOS_DIR } from '../../src/edge/grpc/protos';
import {
  MODEL_SERVICE,
  PREDICTION_SERVICE,
  SIGNATURE_DEF_MAP_TYPE,
} from '../../src/edge/tfserving/tfserving.grpc';
import { toFloat16Bits } from '../../src/tensor/float16';
import { makeProtocolRepository, removeRepository } from '../protocols/protocol-fixtures';
import {
  duplex,
  failure,
  freePort,
  grpcClient,
  healthOf,
  reflectionDefinition,
  unary,
} from '../utils/grpc';
import { closeApp, createTestApp } from '../utils/test-app';

const DIGIT_7 = readFileSync(join(__dirname, '..', 'fixtures', 'digits', '7.png'));
const SETOSA = [5.1, 3.5, 1.4, 0.2];
const VIRGINICA = [6.7, 3.1, 5.6, 2.4];

/**
 * The client side as a generated TF Serving client sees it: built from the same vendored protos,
 * no virtual oneof fields, and the metadata's google.protobuf.Any unpacked (json).
 */
const clientDefinition = () =>
  loadProtos(
    [
      'tensorflow_serving/apis/prediction_service.proto',
      'tensorflow_serving/apis/model_service.proto',
    ],
    `${PROTOS_DIR}/tfserving`,
    { keepCase: true, longs: String, enums: String, json: true },
  );

const dims = (...sizes: number[]) => ({ dim: sizes.map((size) => ({ size })) });
const floats = (shape: number[], values: number[]) => ({
  dtype: 'DT_FLOAT',
  tensor_shape: dims(...shape),
  float_val: values,
});
/** The same tensor as tensor_content: little-endian float32 bytes, as numpy's tobytes(). */
const floatContent = (shape: number[], values: number[]) => ({
  dtype: 'DT_FLOAT',
  tensor_shape: dims(...shape),
  tensor_content: Buffer.from(Float32Array.from(values).buffer),
});
const spec = (name: string, more: object = {}) => ({ model_spec: { name, ...more } });

interface TensorProto {
  dtype: string;
  tensor_shape: { dim: { size: string }[] };
  float_val?: number[];
  int_val?: number[];
  bool_val?: boolean[];
}
interface PredictResponse {
  model_spec: { name: string; version: { value: string }; signature_name: string };
  outputs: Record<string, TensorProto>;
}

const shapeOf = (tensor: TensorProto) => tensor.tensor_shape.dim.map((d) => Number(d.size));

/** TensorFlow Serving's gRPC API (PredictionService, ModelService) against REST's answers. */
describe('TF Serving over gRPC: PredictionService and ModelService (e2e)', () => {
  let app: NestExpressApplication;
  let root: string;
  let port: number;
  let prediction: Client;
  let models: Client;
  const rest = () => request(app.getHttpServer());
  const predict = (body: object) => unary<PredictResponse>(prediction, 'Predict', body);
  /** The REST error message of the same request, for the gRPC details to equal. */
  const restError = async (path: string, body?: object, code = 400) => {
    const res = body ? await rest().post(path).send(body) : await rest().get(path);
    expect(res.status).toBe(code);
    return res.body.error as string;
  };

  beforeAll(async () => {
    root = await makeProtocolRepository();
    port = await freePort();
    app = await createTestApp({
      MODEL_DIR: root,
      MODEL_VERSION_POLICY: 'all',
      GRPC_PORT: String(port),
    });
    const definition = clientDefinition();
    prediction = grpcClient(definition, PREDICTION_SERVICE, port);
    models = grpcClient(definition, MODEL_SERVICE, port);
  });
  afterAll(async () => {
    prediction?.close();
    models?.close();
    await closeApp(app);
    removeRepository(root);
  });

  describe('Predict', () => {
    it("should answer api_rest.md's half_plus_three example with typed float_val", async () => {
      const answer = await predict({
        ...spec('half_plus_three'),
        inputs: { x: floats([3], [1, 2, 5]) },
      });
      expect(answer.model_spec).toMatchObject({
        name: 'half_plus_three',
        version: { value: '123' },
        signature_name: 'serving_default',
      });
      expect(Object.keys(answer.outputs)).toEqual(['y']);
      expect(answer.outputs.y).toMatchObject({ dtype: 'DT_FLOAT', float_val: [3.5, 4, 5.5] });
      expect(shapeOf(answer.outputs.y)).toEqual([3]);
    });

    it('should take the same tensor as little-endian tensor_content', async () => {
      const answer = await predict({
        ...spec('half_plus_three'),
        inputs: { x: floatContent([3], [1, 2, 5]) },
      });
      expect(answer.outputs.y.float_val).toEqual([3.5, 4, 5.5]);
    });

    it('should answer the shipped iris models (layers, graph, ONNX) as REST, typed or as tensor_content', async () => {
      for (const model of ['iris', 'iris-graph', 'iris-onnx']) {
        const metadata = await rest().get(`/v1/models/${model}/metadata`).expect(200);
        const [input] = Object.keys(
          metadata.body.metadata.signature_def.signature_def.serving_default.inputs,
        );
        const { body } = await rest()
          .post(`/v1/models/${model}:predict`)
          .send({ inputs: { [input]: [SETOSA, VIRGINICA] } })
          .expect(200);
        const restOutputs = (
          Array.isArray(body.outputs) ? body.outputs : Object.values(body.outputs)[0]
        ) as number[][];
        for (const tensor of [floats, floatContent]) {
          const answer = await predict({
            ...spec(model),
            inputs: { [input]: tensor([2, 4], [...SETOSA, ...VIRGINICA]) },
          });
          const [name] = Object.keys(answer.outputs);
          expect(shapeOf(answer.outputs[name])).toEqual([2, 3]);
          expect(answer.outputs[name].float_val).toEqual(restOutputs.flat());
        }
      }
    });

    it('should run the version model_spec.version names, as REST /versions/{v} does', async () => {
      for (const version of ['1', '2']) {
        const { body } = await rest()
          .post(`/v1/models/iris/versions/${version}:predict`)
          .send({ inputs: [SETOSA] })
          .expect(200);
        const answer = await predict({
          ...spec('iris', { version: { value: version } }),
          inputs: { features: floats([1, 4], SETOSA) },
        });
        expect(answer.model_spec.version.value).toBe(version);
        expect(Object.values(answer.outputs)[0].float_val).toEqual(body.outputs.flat());
      }
    });

    it('should feed DT_INT32 and DT_BOOL inputs and answer DT_FLOAT and DT_INT32 outputs', async () => {
      const { body } = await rest()
        .post('/v1/models/mymodel:predict')
        .send({
          inputs: {
            input0: [
              [1, 2],
              [3, 4],
            ],
            input1: [true, false],
          },
        })
        .expect(200);
      const answer = await predict({
        ...spec('mymodel'),
        inputs: {
          input0: { dtype: 'DT_INT32', tensor_shape: dims(2, 2), int_val: [1, 2, 3, 4] },
          input1: { dtype: 'DT_BOOL', tensor_shape: dims(2), bool_val: [true, false] },
        },
      });
      expect(answer.outputs.output0).toMatchObject({
        dtype: 'DT_FLOAT',
        float_val: body.outputs.output0.flat(),
      });
      expect(answer.outputs.output1).toMatchObject({ dtype: 'DT_INT32', int_val: [1, 2, 3, 4] });
      expect(shapeOf(answer.outputs.output1)).toEqual([2, 2]);
    });

    it('should read DT_HALF half_val and DT_DOUBLE into a float32 input', async () => {
      const half = await predict({
        ...spec('half_plus_three'),
        inputs: {
          x: { dtype: 'DT_HALF', tensor_shape: dims(2), half_val: [1, 2].map(toFloat16Bits) },
        },
      });
      expect(half.outputs.y.float_val).toEqual([3.5, 4]);
      const double = await predict({
        ...spec('half_plus_three'),
        inputs: { x: { dtype: 'DT_DOUBLE', tensor_shape: dims(1), double_val: [5] } },
      });
      expect(double.outputs.y.float_val).toEqual([5.5]);
    });

    it('should take encoded images as a DT_STRING tensor, as REST takes {"b64"} rows', async () => {
      const { body } = await rest()
        .post('/v1/models/digits:predict')
        .send({ instances: [{ b64: DIGIT_7.toString('base64') }] })
        .expect(200);
      const answer = await predict({
        ...spec('digits'),
        inputs: { image: { dtype: 'DT_STRING', tensor_shape: dims(1), string_val: [DIGIT_7] } },
      });
      const [name] = Object.keys(answer.outputs);
      expect(shapeOf(answer.outputs[name])).toEqual([1, 10]);
      expect(answer.outputs[name].float_val).toEqual(body.predictions.flat());
      const corrupt = Buffer.concat([DIGIT_7.subarray(0, 50), Buffer.alloc(30, 1)]);
      const error = await failure(
        predict({
          ...spec('digits'),
          inputs: { image: { dtype: 'DT_STRING', tensor_shape: dims(1), string_val: [corrupt] } },
        }),
      );
      expect(error.code).toBe(status.INVALID_ARGUMENT);
      expect(error.details).toMatch(/^inputs\.image\[0\]: the PNG image could not be decoded/);
    });

    it('should answer only the outputs output_filter names', async () => {
      const inputs = {
        signal: floats([1, 5], [1, 2, 3, 4, 5]),
        sensor: floats([1, 2, 2], [1, 2, 3, 4]),
      };
      const all = await predict({ ...spec('sensors'), inputs });
      expect(Object.keys(all.outputs).sort()).toEqual(['sensor_sum', 'signal_sum']);
      const one = await predict({ ...spec('sensors'), inputs, output_filter: ['sensor_sum'] });
      expect(Object.keys(one.outputs)).toEqual(['sensor_sum']);
      expect(one.outputs.sensor_sum.float_val).toEqual([10]);
    });
  });

  describe('Classify and Regress', () => {
    const examples = (...rows: Record<string, number[]>[]) =>
      rows.map((row) => ({
        features: {
          feature: Object.fromEntries(
            Object.entries(row).map(([name, value]) => [name, { float_list: { value } }]),
          ),
        },
      }));

    it("should classify with REST's labels and scores per example", async () => {
      const { body } = await rest()
        .post('/v1/models/iris:classify')
        .send({ examples: [{ features: SETOSA }, { features: VIRGINICA }] })
        .expect(200);
      const answer = await unary<{
        model_spec: { name: string };
        result: { classifications: { classes: { label: string; score: number }[] }[] };
      }>(prediction, 'Classify', {
        ...spec('iris'),
        input: {
          example_list: { examples: examples({ features: SETOSA }, { features: VIRGINICA }) },
        },
      });
      expect(answer.model_spec.name).toBe('iris');
      expect(
        answer.result.classifications.map((c) => c.classes.map((k) => [k.label, k.score])),
      ).toEqual(body.results);
    });

    it("should regress with REST's values", async () => {
      const { body } = await rest()
        .post('/v1/models/half_plus_three:regress')
        .send({ examples: [{ x: 1 }, { x: 2 }] })
        .expect(200);
      const answer = await unary<{ result: { regressions: { value: number }[] } }>(
        prediction,
        'Regress',
        {
          ...spec('half_plus_three'),
          input: { example_list: { examples: examples({ x: [1] }, { x: [2] }) } },
        },
      );
      expect(answer.result.regressions.map((r) => r.value)).toEqual(body.results);
    });

    it('should take features shared by every example from the context, as REST does', async () => {
      const { body } = await rest()
        .post('/v1/models/iris:classify')
        .send({ examples: [{}, {}], context: { features: VIRGINICA } })
        .expect(200);
      const answer = await unary<{
        result: { classifications: { classes: { label: string; score: number }[] }[] };
      }>(prediction, 'Classify', {
        ...spec('iris'),
        input: {
          example_list_with_context: {
            examples: [{}, {}],
            context: examples({ features: VIRGINICA })[0],
          },
        },
      });
      expect(
        answer.result.classifications.map((c) => c.classes.map((k) => [k.label, k.score])),
      ).toEqual(body.results);
    });

    it("should refuse a model that cannot regress, with REST's message", async () => {
      const error = await failure(
        unary(prediction, 'Regress', {
          ...spec('sensors'),
          input: {
            example_list_with_context: {
              examples: examples({ signal: [1, 2, 3, 4, 5] }),
              context: examples({ sensor: [1, 2, 3, 4] })[0],
            },
          },
        }),
      );
      expect(error.code).toBe(status.INVALID_ARGUMENT);
      expect(error.details).toBe(
        await restError('/v1/models/sensors:regress', {
          examples: [{ signal: [1, 2, 3, 4, 5] }],
          context: { sensor: [1, 2, 3, 4] },
        }),
      );
    });

    it("should refuse a model that cannot classify with REST's message", async () => {
      const error = await failure(
        unary(prediction, 'Classify', {
          ...spec('linear'),
          input: { example_list: { examples: examples({ x: [1] }) } },
        }),
      );
      expect(error.code).toBe(status.INVALID_ARGUMENT);
      expect(error.details).toBe(
        await restError('/v1/models/linear:classify', { examples: [{ x: 1 }] }),
      );
    });
  });

  describe('GetModelMetadata and GetModelStatus', () => {
    it("should answer REST /metadata's signature_def, packed as a SignatureDefMap", async () => {
      const { body } = await rest().get('/v1/models/sensors/metadata').expect(200);
      const answer = await unary<{
        model_spec: { name: string; version: { value: string } };
        metadata: { signature_def: Record<string, unknown> };
      }>(prediction, 'GetModelMetadata', {
        ...spec('sensors'),
        metadata_field: ['signature_def'],
      });
      expect(answer.model_spec).toMatchObject({ name: 'sensors', version: { value: '1' } });
      const { '@type': type, ...signatures } = answer.metadata.signature_def;
      expect(type).toBe(SIGNATURE_DEF_MAP_TYPE);
      expect(signatures).toEqual(body.metadata.signature_def);
    });

    it("should answer REST's model status, for every version or the one named", async () => {
      const all = await rest().get('/v1/models/iris').expect(200);
      expect(await unary(models, 'GetModelStatus', spec('iris'))).toEqual(all.body);
      const one = await rest().get('/v1/models/iris/versions/1').expect(200);
      expect(
        await unary(models, 'GetModelStatus', spec('iris', { version: { value: '1' } })),
      ).toEqual(one.body);
    });
  });

  describe('on the listener', () => {
    it('should report both services SERVING to grpc.health.v1.Health', async () => {
      expect(await healthOf(port, [PREDICTION_SERVICE, MODEL_SERVICE])).toEqual({
        [PREDICTION_SERVICE]: { status: 'SERVING' },
        [MODEL_SERVICE]: { status: 'SERVING' },
      });
    });

    it('should list both services through server reflection, with their protos', async () => {
      const reflection = grpcClient(
        reflectionDefinition(),
        'grpc.reflection.v1.ServerReflection',
        port,
      );
      type Reflected = Record<
        string,
        { service?: { name: string }[]; file_descriptor_proto?: Buffer[] }
      >;
      const ask = (request: object) =>
        new Promise<Reflected>((resolve, reject) => {
          const call = duplex<Reflected>(reflection, 'ServerReflectionInfo');
          call.on('data', resolve);
          call.on('error', reject);
          call.write(request);
          call.end();
        });
      try {
        const listed = await ask({ list_services: '' });
        const names = listed.list_services_response.service!.map((s) => s.name);
        expect(names).toEqual(expect.arrayContaining([PREDICTION_SERVICE, MODEL_SERVICE]));
        const files = await ask({ file_containing_symbol: 'tensorflow.serving.PredictRequest' });
        const descriptors = files.file_descriptor_response.file_descriptor_proto!;
        // proto-loader describes one file per package; the one asked for holds the message.
        expect(descriptors.some((d) => d.toString('latin1').includes('PredictRequest'))).toBe(true);
      } finally {
        reflection.close();
      }
    });

    it('should count each call in grpc_requests_total by method, model and code', async () => {
      await predict({ ...spec('linear'), inputs: { x: floats([1, 1], [2]) } });
      await failure(unary(models, 'GetModelStatus', spec('nope')));
      const metrics = (await rest().get('/metrics').expect(200)).text;
      expect(metrics).toMatch(
        /grpc_requests_total\{method="tensorflow\.serving\.PredictionService\/Predict",model="linear",version="1",code="OK"\} [1-9]/,
      );
      expect(metrics).toMatch(
        /grpc_requests_total\{method="tensorflow\.serving\.ModelService\/GetModelStatus",model="",version="",code="NOT_FOUND"\} [1-9]/,
      );
    });
  });

  describe("errors: REST's message, with the gRPC status of REST's code", () => {
    it('should answer NOT_FOUND for an unknown model, on every method', async () => {
      const message = await restError('/v1/models/irsi:predict', { inputs: [SETOSA] }, 404);
      const calls = [
        unary(prediction, 'Predict', { ...spec('irsi'), inputs: { x: floats([1], [1]) } }),
        unary(prediction, 'Classify', spec('irsi')),
        unary(prediction, 'Regress', spec('irsi')),
        unary(prediction, 'GetModelMetadata', {
          ...spec('irsi'),
          metadata_field: ['signature_def'],
        }),
        unary(models, 'GetModelStatus', spec('irsi')),
      ];
      for (const call of calls) {
        const error = await failure(call);
        expect(error.code).toBe(status.NOT_FOUND);
        expect(error.details).toBe(message);
      }
    });

    it('should answer NOT_FOUND for an unknown version, and for any version_label', async () => {
      const version = await failure(
        predict({ ...spec('iris', { version: { value: '7' } }), inputs: {} }),
      );
      expect(version.code).toBe(status.NOT_FOUND);
      expect(version.details).toBe(
        await restError('/v1/models/iris/versions/7:predict', { inputs: [SETOSA] }, 404),
      );
      const label = await failure(
        predict({ ...spec('iris', { version_label: 'stable' }), inputs: {} }),
      );
      expect(label.code).toBe(status.NOT_FOUND);
      expect(label.details).toBe(
        "Unrecognized servable version label: 'stable' for model 'iris'; this server assigns no version labels, set model_spec.version (loaded: 2, 1)",
      );
      const statusLabel = await failure(
        unary(models, 'GetModelStatus', spec('iris', { version_label: 'stable' })),
      );
      expect(statusLabel.details).toBe(label.details);
    });

    it("should answer INVALID_ARGUMENT with REST's words for input that does not fit", async () => {
      const cases: [object, object][] = [
        // One value too many per row.
        [{ features: floats([1, 5], [...SETOSA, 1]) }, { features: [[...SETOSA, 1]] }],
        // A missing input and an unknown one.
        [{ petals: floats([1, 4], SETOSA) }, { petals: [SETOSA] }],
        // Strings for a float input.
        [
          {
            features: {
              dtype: 'DT_STRING',
              tensor_shape: dims(1, 1),
              string_val: [Buffer.from('a')],
            },
          },
          { features: [['a']] },
        ],
      ];
      for (const [inputs, columns] of cases) {
        const error = await failure(predict({ ...spec('iris'), inputs }));
        expect(error.code).toBe(status.INVALID_ARGUMENT);
        expect(error.details).toBe(await restError('/v1/models/iris:predict', { inputs: columns }));
      }
      const signature = await failure(
        predict({ ...spec('iris', { signature_name: 'other' }), inputs: {} }),
      );
      expect(signature.details).toBe(
        await restError('/v1/models/iris:predict', { signature_name: 'other', inputs: [SETOSA] }),
      );
    });

    it("should answer RESOURCE_EXHAUSTED past MAX_BATCH rows, with REST's message", async () => {
      const rows = Array.from({ length: 1025 }, (_, i) => i);
      const error = await failure(
        predict({ ...spec('half_plus_three'), inputs: { x: floats([rows.length], rows) } }),
      );
      expect(error.code).toBe(status.RESOURCE_EXHAUSTED);
      expect(error.details).toBe(
        await restError('/v1/models/half_plus_three:predict', { inputs: rows }, 413),
      );
    });

    it('should refuse a -1 dimension, a short tensor_content and an unknown output', async () => {
      const minusOne = await failure(
        predict({ ...spec('iris'), inputs: { features: floats([-1, 4], SETOSA) } }),
      );
      expect(minusOne.code).toBe(status.INVALID_ARGUMENT);
      expect(minusOne.details).toMatch(/^inputs\.features: tensor_shape\.dim\[0\]\.size is -1/);
      const short = await failure(
        predict({
          ...spec('iris'),
          inputs: { features: { ...floatContent([1, 4], SETOSA), tensor_shape: dims(2, 4) } },
        }),
      );
      expect(short.details).toBe(
        'inputs.features: tensor_content holds 16 bytes, but shape [2,4] of DT_FLOAT needs 32 (8 elements of 4 bytes, little-endian)',
      );
      const filter = await failure(
        predict({
          ...spec('half_plus_three'),
          inputs: { x: floats([1], [1]) },
          output_filter: ['z'],
        }),
      );
      expect(filter.code).toBe(status.INVALID_ARGUMENT);
      expect(filter.details).toBe(
        "output_filter[0]: unknown output 'z'; the model's outputs are y",
      );
    });

    it('should refuse a request naming no model, and metadata other than signature_def', async () => {
      const unnamed = await failure(predict({ inputs: {} }));
      expect(unnamed.code).toBe(status.INVALID_ARGUMENT);
      expect(unnamed.details).toMatch(/^model_spec\.name is empty; name the model to run/);
      const field = await failure(
        unary(prediction, 'GetModelMetadata', { ...spec('iris'), metadata_field: ['other'] }),
      );
      expect(field.code).toBe(status.INVALID_ARGUMENT);
      expect(field.details).toBe(
        'metadata_field \'other\' is not supported; this server answers "signature_def"',
      );
    });

    it('should answer MultiInference UNIMPLEMENTED', async () => {
      const error = await failure(unary(prediction, 'MultiInference', {}));
      expect(error.code).toBe(status.UNIMPLEMENTED);
      expect(error.details).toMatch(/MultiInference is not implemented by this server/);
    });
  });
});
