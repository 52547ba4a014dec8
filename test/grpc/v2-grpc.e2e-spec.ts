import { status, type Client } from '@grpc/grpc-js';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import request from 'supertest';
import { makeProtocolRepository, removeRepository } from '../protocols/protocol-fixtures';
import { closeApp, createTestApp } from '../utils/test-app';
import { bytesOf, framed } from '../utils/v2-bytes';
import {
  duplex,
  failure,
  freePort,
  grpcClient,
  healthOf,
  inferenceDefinition,
  reflectionDefinition,
  unary,
} from '../utils/grpc';

/**
 * inference.GRPCInferenceService against the real app and real models, with a client built from
 * the vendored protos as Triton's generated clients are. Every answer is compared with HTTP V2's
 * answer to the same tensors; the bytes are written here by hand (Buffer writes), not by src/.
 */

const SERVICE = 'inference.GRPCInferenceService';
const IRIS_ROWS = [5, 3, 1, 0, 6, 3, 5, 2];

const floats = (bytes: Buffer) =>
  Array.from({ length: bytes.length / 4 }, (_, i) => bytes.readFloatLE(i * 4));

/** The typed contents field of each datatype (Triton's InferTensorContents). */
const FIELD: Record<string, string> = {
  BOOL: 'bool_contents',
  INT8: 'int_contents',
  INT16: 'int_contents',
  INT32: 'int_contents',
  INT64: 'int64_contents',
  UINT8: 'uint_contents',
  UINT16: 'uint_contents',
  UINT32: 'uint_contents',
  UINT64: 'uint64_contents',
  FP32: 'fp32_contents',
  FP64: 'fp64_contents',
};

interface InferResponse {
  model_name: string;
  model_version: string;
  id: string;
  outputs: { name: string; datatype: string; shape: number[] }[];
  raw_output_contents: Buffer[];
}

interface StreamAnswer {
  error_message: string;
  infer_response: InferResponse;
}

interface ReflectionAnswer {
  list_services_response: { service: { name: string }[] };
}

describe('Open Inference Protocol V2 over gRPC (inference.GRPCInferenceService, e2e)', () => {
  let app: NestExpressApplication;
  let root: string;
  let port: number;
  let client: Client;
  const http = () => request(app.getHttpServer());
  const call = <T = Record<string, unknown>>(method: string, message: object) =>
    unary<T>(client, method, message);
  const infer = (message: object) => call<InferResponse>('ModelInfer', message);
  /** The HTTP V2 answer to the same JSON request, and its error when it fails. */
  const httpInfer = (model: string, body: object) =>
    http().post(`/v2/models/${model}/infer`).send(body);

  beforeAll(async () => {
    root = await makeProtocolRepository();
    port = await freePort();
    app = await createTestApp({
      MODEL_DIR: root,
      MODEL_VERSION_POLICY: 'all',
      GRPC_PORT: String(port),
    });
    client = grpcClient(inferenceDefinition(), SERVICE, port);
  }, 60_000);
  afterAll(async () => {
    client?.close();
    await closeApp(app);
    removeRepository(root);
  });

  describe('server and model metadata', () => {
    it('should answer ServerLive and ServerReady true', async () => {
      expect(await call('ServerLive', {})).toEqual({ live: true });
      expect(await call('ServerReady', {})).toEqual({ ready: true });
    });

    it('should answer ModelReady for a model and one of its versions', async () => {
      expect(await call('ModelReady', { name: 'iris' })).toEqual({ ready: true });
      expect(await call('ModelReady', { name: 'iris', version: '2' })).toEqual({ ready: true });
    });

    it('should answer ModelReady for an unknown model NOT_FOUND, as HTTP says 404', async () => {
      const error = await failure(call('ModelReady', { name: 'nope' }));
      const res = await http().get('/v2/models/nope/ready').expect(404);
      expect(error.code).toBe(status.NOT_FOUND);
      expect(error.details).toBe(res.body.error);
    });

    it('should refuse a request that names no model with INVALID_ARGUMENT', async () => {
      const error = await failure(call('ModelMetadata', { name: '' }));
      expect(error.code).toBe(status.INVALID_ARGUMENT);
      expect(error.details).toBe('name is required: name the model');
    });

    it('should answer ServerMetadata as GET /v2', async () => {
      const res = await http().get('/v2').expect(200);
      expect(await call('ServerMetadata', {})).toEqual(res.body);
    });

    it('should answer ModelMetadata as GET /v2/models/{name}[/versions/{v}]', async () => {
      for (const [message, path] of [
        [{ name: 'iris' }, '/v2/models/iris'],
        [{ name: 'iris', version: '1' }, '/v2/models/iris/versions/1'],
        [{ name: 'mymodel' }, '/v2/models/mymodel'],
      ] as const) {
        const res = await http().get(path).expect(200);
        expect(await call('ModelMetadata', message)).toEqual(res.body);
      }
    });

    it("should answer an unknown version NOT_FOUND with HTTP's message", async () => {
      const error = await failure(call('ModelMetadata', { name: 'iris', version: '9' }));
      const res = await http().get('/v2/models/iris/versions/9').expect(404);
      expect(error.code).toBe(status.NOT_FOUND);
      expect(error.details).toBe(res.body.error);
    });
  });

  describe('ModelInfer', () => {
    it("should answer the V2 reference's example from raw contents (UINT32 + BOOL in, FP32 out), id echoed", async () => {
      const answer = await infer({
        model_name: 'mymodel',
        id: 'r1',
        inputs: [
          { name: 'input0', datatype: 'UINT32', shape: [2, 2] },
          { name: 'input1', datatype: 'BOOL', shape: [3] },
        ],
        outputs: [{ name: 'output0' }],
        raw_input_contents: [bytesOf('UINT32', [1, 2, 3, 4]), Buffer.from([1, 0, 1])],
      });
      expect(answer).toMatchObject({ model_name: 'mymodel', model_version: '1', id: 'r1' });
      expect(answer.outputs).toMatchObject([{ name: 'output0', datatype: 'FP32', shape: [3, 2] }]);
      expect(answer.raw_output_contents).toHaveLength(1);
      expect(floats(answer.raw_output_contents[0])).toEqual([5, 7, 4, 6, 5, 7]);
    });

    it('should answer the same from typed contents, every output when none is asked for', async () => {
      const answer = await infer({
        model_name: 'mymodel',
        inputs: [
          {
            name: 'input0',
            datatype: 'UINT32',
            shape: [2, 2],
            contents: { uint_contents: [1, 2, 3, 4] },
          },
          {
            name: 'input1',
            datatype: 'BOOL',
            shape: [3],
            contents: { bool_contents: [true, false, true] },
          },
        ],
      });
      expect(answer.id).toBe('');
      expect(answer.outputs.map((o) => [o.name, o.datatype, o.shape])).toEqual([
        ['output0', 'FP32', [3, 2]],
        ['output1', 'INT32', [2, 2]],
      ]);
      expect(floats(answer.raw_output_contents[0])).toEqual([5, 7, 4, 6, 5, 7]);
      const int32 = answer.raw_output_contents[1];
      expect([0, 1, 2, 3].map((i) => int32.readInt32LE(i * 4))).toEqual([1, 2, 3, 4]);
    });

    describe('every numeric datatype into a float input, raw and typed, as HTTP V2 JSON answers', () => {
      let expected: number[];
      beforeAll(async () => {
        const res = await httpInfer('iris', {
          inputs: [{ name: 'features', shape: [2, 4], datatype: 'FP32', data: IRIS_ROWS }],
        }).expect(200);
        expected = res.body.outputs[0].data;
      });

      const DATATYPES = ['FP16', 'FP32', 'FP64', 'INT8', 'INT16', 'INT32', 'INT64'];
      const UNSIGNED = ['UINT8', 'UINT16', 'UINT32', 'UINT64'];
      it.each([...DATATYPES, ...UNSIGNED])('%s as raw_input_contents', async (datatype) => {
        const answer = await infer({
          model_name: 'iris',
          inputs: [{ name: 'features', datatype, shape: [2, 4] }],
          raw_input_contents: [bytesOf(datatype, IRIS_ROWS)],
        });
        expect(answer.outputs).toMatchObject([
          { name: 'probabilities', datatype: 'FP32', shape: [2, 3] },
        ]);
        expect(floats(answer.raw_output_contents[0])).toEqual(expected);
      });

      it.each([...DATATYPES.filter((d) => d !== 'FP16'), ...UNSIGNED])(
        '%s as typed contents',
        async (datatype) => {
          const answer = await infer({
            model_name: 'iris',
            model_version: '2',
            inputs: [
              {
                name: 'features',
                datatype,
                shape: [2, 4],
                contents: { [FIELD[datatype]]: IRIS_ROWS },
              },
            ],
          });
          expect(floats(answer.raw_output_contents[0])).toEqual(expected);
        },
      );
    });

    describe('BYTES (image files into the digits model)', () => {
      const seven = readFileSync(join(__dirname, '..', 'fixtures', 'digits', '7.png'));
      const three = readFileSync(join(__dirname, '..', 'fixtures', 'digits', '3.png'));
      let expected: number[];

      beforeAll(async () => {
        // HTTP V2 binary with the same framed bytes: the reference answer.
        const bytes = framed([seven, three]);
        const header = Buffer.from(
          JSON.stringify({
            inputs: [
              {
                name: 'image',
                shape: [2],
                datatype: 'BYTES',
                parameters: { binary_data_size: bytes.length },
              },
            ],
          }),
        );
        const res = await http()
          .post('/v2/models/digits/infer')
          .set('Content-Type', 'application/octet-stream')
          .set('Inference-Header-Content-Length', String(header.length))
          .send(Buffer.concat([header, bytes]))
          .expect(200);
        expected = res.body.outputs[0].data;
        expect(expected).toHaveLength(20);
      });

      it('should take BYTES as raw_input_contents (4-byte length-prefixed elements)', async () => {
        const answer = await infer({
          model_name: 'digits',
          inputs: [{ name: 'image', datatype: 'BYTES', shape: [2] }],
          raw_input_contents: [framed([seven, three])],
        });
        const values = floats(answer.raw_output_contents[0]);
        expect(values).toEqual(expected);
        expect(values.slice(0, 10).indexOf(Math.max(...values.slice(0, 10)))).toBe(7);
      });

      it('should take BYTES as typed bytes_contents', async () => {
        const answer = await infer({
          model_name: 'digits',
          inputs: [
            {
              name: 'image',
              datatype: 'BYTES',
              shape: [2],
              contents: { bytes_contents: [seven, three] },
            },
          ],
        });
        expect(floats(answer.raw_output_contents[0])).toEqual(expected);
      });

      it('should refuse BYTES whose framing does not add up, as HTTP does', async () => {
        const error = await failure(
          infer({
            model_name: 'digits',
            inputs: [{ name: 'image', datatype: 'BYTES', shape: [2] }],
            raw_input_contents: [framed([seven])],
          }),
        );
        expect(error.code).toBe(status.INVALID_ARGUMENT);
        expect(error.details).toMatch(/holds 1 BYTES element\(s\) but the shape needs 2/);
      });
    });

    it('should take request, input and output parameters', async () => {
      const answer = await infer({
        model_name: 'iris',
        parameters: { priority: { int64_param: 1 }, note: { string_param: 'x' } },
        inputs: [
          {
            name: 'features',
            datatype: 'FP32',
            shape: [2, 4],
            parameters: { unit: { string_param: 'cm' } },
          },
        ],
        outputs: [{ name: 'probabilities', parameters: { classification: { int64_param: 0 } } }],
        raw_input_contents: [bytesOf('FP32', IRIS_ROWS)],
      });
      expect(answer.outputs[0].shape).toEqual([2, 3]);
    });

    describe('errors: the status of the code, the message HTTP V2 gives', () => {
      it.each([
        [
          'an unknown model',
          'nope',
          { inputs: [{ name: 'features', shape: [1, 4], datatype: 'FP32', data: [1, 2, 3, 4] }] },
          status.NOT_FOUND,
        ],
        [
          'an input of the wrong shape',
          'iris',
          { inputs: [{ name: 'features', shape: [1, 3], datatype: 'FP32', data: [1, 2, 3] }] },
          status.INVALID_ARGUMENT,
        ],
        [
          'an unknown output',
          'iris',
          {
            inputs: [{ name: 'features', shape: [1, 4], datatype: 'FP32', data: [1, 2, 3, 4] }],
            outputs: [{ name: 'probs' }],
          },
          status.INVALID_ARGUMENT,
        ],
        [
          'a missing input',
          'mymodel',
          { inputs: [{ name: 'input0', shape: [1, 2], datatype: 'INT32', data: [1, 2] }] },
          status.INVALID_ARGUMENT,
        ],
      ])('%s', async (_what, model, body, code) => {
        const res = await httpInfer(model, body);
        expect(res.status).toBeGreaterThanOrEqual(400);
        const typed = body as {
          inputs: { name: string; shape: number[]; datatype: string; data: number[] }[];
          outputs?: { name: string }[];
        };
        const error = await failure(
          infer({
            model_name: model,
            inputs: typed.inputs.map(({ name, shape, datatype, data }) => ({
              name,
              shape,
              datatype,
              contents: { [FIELD[datatype]]: data },
            })),
            outputs: typed.outputs ?? [],
          }),
        );
        expect(error.code).toBe(code);
        expect(error.details).toBe(res.body.error);
      });

      it('should refuse raw contents that do not match the inputs', async () => {
        const error = await failure(
          infer({
            model_name: 'iris',
            inputs: [{ name: 'features', datatype: 'FP32', shape: [2, 4] }],
            raw_input_contents: [bytesOf('FP32', IRIS_ROWS), Buffer.alloc(4)],
          }),
        );
        expect(error.code).toBe(status.INVALID_ARGUMENT);
        expect(error.details).toBe(
          'raw_input_contents has 2 entries but inputs has 1; send one per input, in the order of inputs',
        );
      });

      it('should refuse raw bytes that do not fill the shape, as HTTP binary does', async () => {
        const error = await failure(
          infer({
            model_name: 'iris',
            inputs: [{ name: 'features', datatype: 'FP32', shape: [2, 4] }],
            raw_input_contents: [bytesOf('FP32', IRIS_ROWS.slice(0, 6))],
          }),
        );
        expect(error.code).toBe(status.INVALID_ARGUMENT);
        expect(error.details).toBe(
          "inputs[0] 'features': binary_data_size 24 does not match shape [2,4]: 8 element(s) of FP32 take 32 bytes",
        );
      });

      it('should say FP16 travels only as raw contents', async () => {
        const error = await failure(
          infer({
            model_name: 'iris',
            inputs: [{ name: 'features', datatype: 'FP16', shape: [1, 4] }],
          }),
        );
        expect(error.code).toBe(status.INVALID_ARGUMENT);
        expect(error.details).toBe(
          "inputs[0] 'features': FP16 has no typed contents field; send its bytes (little-endian) in raw_input_contents",
        );
      });

      it("should say which contents field a datatype's values go in", async () => {
        const error = await failure(
          infer({
            model_name: 'iris',
            inputs: [
              {
                name: 'features',
                datatype: 'FP32',
                shape: [1, 4],
                contents: { int_contents: [1, 2, 3, 4] },
              },
            ],
          }),
        );
        expect(error.code).toBe(status.INVALID_ARGUMENT);
        expect(error.details).toBe(
          "inputs[0] 'features': datatype FP32 takes its values in contents.fp32_contents, not contents.int_contents",
        );
      });

      it('should refuse a request that names no model', async () => {
        const error = await failure(infer({ inputs: [] }));
        expect(error.code).toBe(status.INVALID_ARGUMENT);
        expect(error.details).toBe('model_name is required: name the model');
      });
    });
  });

  describe('ModelStreamInfer', () => {
    it('should answer each request with its id, in order, an error in the middle carried in error_message without ending the stream', async () => {
      const stream = duplex<StreamAnswer>(client, 'ModelStreamInfer');
      const answers: StreamAnswer[] = [];
      stream.on('data', (answer) => answers.push(answer));
      const ended = new Promise<void>((resolve, reject) => {
        stream.on('end', resolve);
        stream.on('error', reject);
      });
      const ok = (id: string, rows: number[]) => ({
        model_name: 'iris',
        id,
        inputs: [{ name: 'features', datatype: 'FP32', shape: [rows.length / 4, 4] }],
        raw_input_contents: [bytesOf('FP32', rows)],
      });
      stream.write(ok('a', IRIS_ROWS));
      stream.write({ ...ok('b', IRIS_ROWS), outputs: [{ name: 'probs' }] });
      stream.write(ok('c', IRIS_ROWS.slice(0, 4)));
      stream.write({ model_name: 'nope', id: 'd' });
      stream.write(ok('e', IRIS_ROWS.slice(4)));
      stream.end();
      await ended;
      expect(answers.map((a) => [a.infer_response?.id, a.error_message])).toEqual([
        ['a', ''],
        ['b', "outputs: unknown output 'probs'; the model's outputs are probabilities"],
        ['c', ''],
        [
          'd',
          expect.stringMatching(
            /^Request for unknown model: 'nope' is not found; available models: /,
          ),
        ],
        ['e', ''],
      ]);
      const rows = (a: StreamAnswer) => floats(a.infer_response.raw_output_contents[0]);
      expect([...rows(answers[2]), ...rows(answers[4])]).toEqual(rows(answers[0]));
      expect(answers[0].infer_response.outputs[0].shape).toEqual([2, 3]);
    });
  });

  describe('not implemented', () => {
    it.each([
      'SystemSharedMemoryStatus',
      'SystemSharedMemoryRegister',
      'SystemSharedMemoryUnregister',
      'CudaSharedMemoryStatus',
      'CudaSharedMemoryRegister',
      'CudaSharedMemoryUnregister',
      'TraceSetting',
      'LogSettings',
    ])("Triton's %s should answer UNIMPLEMENTED, saying what this server lacks", async (method) => {
      const error = await failure(call(method, {}));
      expect(error.code).toBe(status.UNIMPLEMENTED);
      expect(error.details).toBe(
        `${method} is not implemented: this server has no shared memory (system or CUDA), trace settings or log settings; tensors travel in ModelInfer's contents or raw_input_contents`,
      );
    });
  });

  describe('operations', () => {
    it('should answer health SERVING for the server and for the inference service', async () => {
      expect(await healthOf(port, ['', SERVICE])).toEqual({
        '': { status: 'SERVING' },
        [SERVICE]: { status: 'SERVING' },
      });
    });

    it('should list its services through server reflection', async () => {
      const reflection = grpcClient(
        reflectionDefinition(),
        'grpc.reflection.v1.ServerReflection',
        port,
      );
      try {
        const stream = duplex<ReflectionAnswer>(reflection, 'ServerReflectionInfo');
        const answer = new Promise<ReflectionAnswer>((resolve, reject) => {
          stream.once('data', resolve);
          stream.once('error', reject);
        });
        stream.write({ list_services: '' });
        const services = (await answer).list_services_response.service.map((s) => s.name);
        stream.end();
        expect(services).toEqual(expect.arrayContaining([SERVICE, 'grpc.health.v1.Health']));
      } finally {
        reflection.close();
      }
    });

    it("should serve Triton's own protos through server reflection", async () => {
      const reflection = grpcClient(
        reflectionDefinition(),
        'grpc.reflection.v1.ServerReflection',
        port,
      );
      try {
        const stream = duplex<{ file_descriptor_response: { file_descriptor_proto: Buffer[] } }>(
          reflection,
          'ServerReflectionInfo',
        );
        const answer = new Promise<Buffer[]>((resolve, reject) => {
          stream.once('data', (data) =>
            resolve(data.file_descriptor_response.file_descriptor_proto),
          );
          stream.once('error', reject);
        });
        stream.write({ file_containing_symbol: SERVICE });
        const described = (await answer).map((d) => d.toString('latin1')).join('');
        stream.end();
        // An RPC and a model_config.proto message that only Triton's own files define.
        expect(described).toContain('SystemSharedMemoryRegister');
        expect(described).toContain('ModelDynamicBatching');
      } finally {
        reflection.close();
      }
    });

    it('should count every call in grpc_requests_total by method, model and code', async () => {
      await infer({
        model_name: 'iris',
        inputs: [{ name: 'features', datatype: 'FP32', shape: [2, 4] }],
        raw_input_contents: [bytesOf('FP32', IRIS_ROWS)],
      });
      await failure(call('ModelMetadata', { name: 'nope' }));
      const metrics = (await http().get('/metrics').expect(200)).text;
      expect(metrics).toMatch(
        /grpc_requests_total\{method="inference\.GRPCInferenceService\/ModelInfer",model="iris",version="2",code="OK"\} [1-9]/,
      );
      expect(metrics).toMatch(
        /grpc_requests_total\{method="inference\.GRPCInferenceService\/ModelMetadata",model="",version="",code="NOT_FOUND"\} [1-9]/,
      );
      expect(metrics).toMatch(
        /grpc_request_duration_seconds_count\{method="inference\.GRPCInferenceService\/ModelInfer",model="iris",version="2",code="OK"\} [1-9]/,
      );
    });
  });
});
