import { Logger } from '@nestjs/common';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { status, type Client, type ServiceError } from '@grpc/grpc-js';
import { execFile, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import {
  NO_BATCH_CONFIG,
  SIMPLE_CONFIG,
  TRITON_MODELS,
  writeSimpleOnnx,
  writeTritonModel,
  writeTritonRepository,
} from '../scripts/lib/triton-repository';
import { PROTOS_DIR } from '../src/edge/grpc/protos';
import { INFERENCE_SERVICE } from '../src/edge/grpc/v2-grpc.service';
import { copyShipped, removeRepository } from './utils/fixtures';
import { freePort, grpcClient, inferenceDefinition, unary } from './utils/grpc';
import { closeApp, createTestApp } from './utils/test-app';

jest.setTimeout(120_000);

/** The server-wide settings auto-complete writes into a configuration that leaves them out. */
const ENV = {
  BATCH_MAX_SIZE: '6',
  BATCH_TIMEOUT_MS: '3',
  INFERENCE_THREADS: '1',
  MODEL_VERSION_POLICY: 'all',
};

const PYTHON = '/usr/bin/python3';
const hasGrpcio = spawnSync(PYTHON, ['-c', 'import grpc, grpc_tools']).status === 0;
const itIfPython = hasGrpcio || process.env.CI ? it : it.skip;

const range = (n: number, f: (i: number) => number) => Array.from({ length: n }, (_, i) => f(i));
const int32 = (name: string, dims: number[]) => ({ name, data_type: 'TYPE_INT32', dims });

/** What GET /v2/models/simple/config answers: Triton's simple config as written, completed. */
const SIMPLE_EFFECTIVE = {
  name: 'simple',
  platform: 'onnxruntime_onnx',
  backend: 'onnxruntime',
  version_policy: { all: {} },
  max_batch_size: 8,
  input: [int32('INPUT0', [16]), int32('INPUT1', [16])],
  output: [int32('OUTPUT0', [16]), int32('OUTPUT1', [16])],
  instance_group: [{ count: 1, kind: 'KIND_CPU' }],
  dynamic_batching: { max_queue_delay_microseconds: 3000 },
};

function tempRepository(): string {
  return mkdtempSync(join(tmpdir(), 'triton-repo-'));
}

describe('A Triton-style repository with config.pbtxt files (e2e)', () => {
  let repo: string;
  let app: NestExpressApplication;
  let grpcPort: number;
  const http = () => request(app.getHttpServer());

  beforeAll(async () => {
    repo = tempRepository();
    writeTritonRepository(repo);
    // Any engine takes a configuration, TF.js included, and in JSON as well.
    copyShipped('iris/2')(join(repo, 'iris', '2'));
    // The model takes any width; its config narrows it to 16.
    writeTritonModel(repo, 'narrowed', {
      config: SIMPLE_CONFIG.replace('"simple"', '"narrowed"'),
      write: (dir) => writeSimpleOnnx(dir, 'width'),
    });
    writeFileSync(
      join(repo, 'iris', 'config.json'),
      JSON.stringify({
        name: 'iris',
        max_batch_size: 3,
        input: [{ name: 'features', dims: ['4'] }],
      }),
    );
    grpcPort = await freePort();
    app = await createTestApp({ MODEL_DIR: repo, GRPC_PORT: String(grpcPort), ...ENV });
  });
  afterAll(async () => {
    await closeApp(app);
    removeRepository(repo);
  });

  it("should serve Triton's simple example: its metadata from the config, OUTPUT0 the sum and OUTPUT1 the difference", async () => {
    const metadata = await http().get('/v2/models/simple').expect(200);
    expect(metadata.body).toMatchObject({
      platform: 'onnxruntime_onnx',
      inputs: [
        { name: 'INPUT0', datatype: 'INT32', shape: [-1, 16] },
        { name: 'INPUT1', datatype: 'INT32', shape: [-1, 16] },
      ],
    });
    const a = range(16, (i) => i);
    const b = range(16, () => 1);
    const res = await http()
      .post('/v2/models/simple/infer')
      .send({
        inputs: [
          { name: 'INPUT0', shape: [1, 16], datatype: 'INT32', data: a },
          { name: 'INPUT1', shape: [1, 16], datatype: 'INT32', data: b },
        ],
      })
      .expect(200);
    expect(res.body.outputs).toEqual([
      { name: 'OUTPUT0', datatype: 'INT32', shape: [1, 16], data: a.map((x) => x + 1) },
      { name: 'OUTPUT1', datatype: 'INT32', shape: [1, 16], data: a.map((x) => x - 1) },
    ]);
  });

  it("should answer the effective configuration in Triton's JSON form, for the model and each version", async () => {
    expect((await http().get('/v2/models/simple/config').expect(200)).body).toEqual(
      SIMPLE_EFFECTIVE,
    );
    expect((await http().get('/v2/models/simple/versions/1/config').expect(200)).body).toEqual(
      SIMPLE_EFFECTIVE,
    );
  });

  it('should answer 404 in the V2 error body for an unknown model or version', async () => {
    const model = await http().get('/v2/models/nope/config').expect(404);
    expect(model.body).toEqual({ error: expect.stringContaining("'nope'") });
    const version = await http().get('/v2/models/simple/versions/7/config').expect(404);
    expect(version.body).toEqual({
      error: "Version 7 of model 'simple' not found; loaded versions: 1",
    });
  });

  it('should show what auto-complete filled in for a model without a configuration', async () => {
    const res = await http().get('/v2/models/simple_autocomplete/config').expect(200);
    expect(res.body).toEqual({
      ...SIMPLE_EFFECTIVE,
      name: 'simple_autocomplete',
      max_batch_size: 6, // BATCH_MAX_SIZE
    });
  });

  it('should show a model without a batch dimension its full shape, and take only that shape', async () => {
    expect((await http().get('/v2/models/nobatch/config').expect(200)).body).toMatchObject({
      max_batch_size: 0,
      input: [{ name: 'x', data_type: 'TYPE_FP32', dims: [2, 3] }],
    });
    expect((await http().get('/v2/models/nobatch/config').expect(200)).body.dynamic_batching).toBe(
      undefined,
    );
    const x = (rows: number) => ({
      inputs: [{ name: 'x', shape: [rows, 3], datatype: 'FP32', data: range(rows * 3, (i) => i) }],
    });
    const ok = await http().post('/v2/models/nobatch/infer').send(x(2)).expect(200);
    expect(ok.body.outputs[0]).toMatchObject({ shape: [2, 3], data: range(6, (i) => i + 1) });
    const refused = await http().post('/v2/models/nobatch/infer').send(x(4)).expect(400);
    expect(refused.body.error).toBe(
      `input 'x' of model 'nobatch' is [4,3]; it takes [2,3] (max_batch_size 0 in ${join(repo, 'nobatch', 'config.pbtxt')}: dims are the full shape)`,
    );
  });

  it('should hold requests to the width a config narrows a free dimension to', async () => {
    const metadata = await http().get('/v2/models/narrowed').expect(200);
    expect(metadata.body.inputs[0]).toEqual({ name: 'INPUT0', datatype: 'INT32', shape: [-1, 16] });
    const input = (name: string, width: number) => ({
      name,
      shape: [1, width],
      datatype: 'INT32',
      data: range(width, (i) => i),
    });
    const infer = (width: number) =>
      http()
        .post('/v2/models/narrowed/infer')
        .send({ inputs: [input('INPUT0', width), input('INPUT1', width)] });
    expect((await infer(16).expect(200)).body.outputs[0].data).toEqual(range(16, (i) => 2 * i));
    const refused = await infer(8).expect(400);
    expect(refused.body.error).toMatch(/INPUT0.*\[-1,16\]/);
  });

  it('should refuse more rows than max_batch_size, as Triton does', async () => {
    const rows = 9;
    const input = (name: string) => ({
      name,
      shape: [rows, 16],
      datatype: 'INT32',
      data: range(rows * 16, () => 0),
    });
    const res = await http()
      .post('/v2/models/simple/infer')
      .send({ inputs: [input('INPUT0'), input('INPUT1')] })
      .expect(400);
    expect(res.body.error).toMatch(/^inference request batch-size must be <= 8 for 'simple'/);
  });

  it('should reshape: clients send and get rows of 4 while the model runs on [2,2]', async () => {
    const metadata = await http().get('/v2/models/reshape').expect(200);
    expect(metadata.body.inputs).toEqual([{ name: 'x', datatype: 'FP32', shape: [-1, 4] }]);
    expect(metadata.body.outputs).toEqual([{ name: 'y', datatype: 'FP32', shape: [-1, 4] }]);
    const data = [1, 2, 3, 4, 5, 6, 7, 8];
    const res = await http()
      .post('/v2/models/reshape/infer')
      .send({ inputs: [{ name: 'x', shape: [2, 4], datatype: 'FP32', data }] })
      .expect(200);
    expect(res.body.outputs).toEqual([
      { name: 'y', datatype: 'FP32', shape: [2, 4], data: data.map((v) => 2 * v) },
    ]);
    // The row format too: each instance is one row of the config's dims.
    const predict = await http()
      .post('/v1/models/reshape:predict')
      .send({ instances: [[1, 2, 3, 4]] })
      .expect(200);
    expect(predict.body).toEqual({ predictions: [[2, 4, 6, 8]] });
    const wrong = await http()
      .post('/v2/models/reshape/infer')
      .send({ inputs: [{ name: 'x', shape: [1, 5], datatype: 'FP32', data: [1, 2, 3, 4, 5] }] })
      .expect(400);
    expect(wrong.body.error).toMatch(/'x'.*\[-1,4\]/);
  });

  it('should take a TF.js model configured in JSON, its int64 written as Triton writes them', async () => {
    const res = await http().get('/v2/models/iris/config').expect(200);
    expect(res.body).toMatchObject({
      name: 'iris',
      platform: 'tensorflowjs_layers',
      backend: 'tensorflowjs',
      max_batch_size: 3,
      input: [{ name: 'features', data_type: 'TYPE_FP32', dims: [4] }],
      output: [{ name: 'probabilities', data_type: 'TYPE_FP32', dims: [3] }],
    });
  });

  it('should answer gRPC ModelConfig with the same configuration as the proto message', async () => {
    const client: Client = grpcClient(inferenceDefinition(), INFERENCE_SERVICE, grpcPort);
    try {
      const answer = await unary<{ config: Record<string, unknown> }>(client, 'ModelConfig', {
        name: 'simple',
        version: '1',
      });
      // proto-loader's view: every field with its default, int64 as numbers, enums as names.
      expect(answer.config).toMatchObject({
        ...SIMPLE_EFFECTIVE,
        input: SIMPLE_EFFECTIVE.input.map((t) => expect.objectContaining(t)),
        output: SIMPLE_EFFECTIVE.output.map((t) => expect.objectContaining(t)),
        instance_group: [expect.objectContaining({ count: 1, kind: 'KIND_CPU' })],
        dynamic_batching: expect.objectContaining({ max_queue_delay_microseconds: 3000 }),
        version_policy: expect.objectContaining({ all: {} }),
      });
      const unknown = await unary(client, 'ModelConfig', { name: 'nope' }).catch(
        (error: ServiceError) => error,
      );
      expect((unknown as ServiceError).code).toBe(status.NOT_FOUND);
    } finally {
      client.close();
    }
  });

  itIfPython(
    "should give Triton's Python protobuf the same configuration as HTTP's JSON (MessageToDict)",
    async () => {
      const stdout = await new Promise<string>((resolve, reject) =>
        execFile(
          PYTHON,
          [
            join(__dirname, 'grpc', 'python-model-config.py'),
            `127.0.0.1:${grpcPort}`,
            join(PROTOS_DIR, 'triton'),
            'reshape',
          ],
          { timeout: 60_000 },
          (error, out, err) =>
            error ? reject(new Error(`${error.message}\n${err}`)) : resolve(out),
        ),
      );
      const http = (await request(app.getHttpServer()).get('/v2/models/reshape/config').expect(200))
        .body;
      expect(JSON.parse(stdout)).toEqual(http);
    },
  );
});

describe('A configuration that contradicts the model, or cannot be read (e2e)', () => {
  let repo: string;
  beforeEach(() => (repo = tempRepository()));
  afterEach(() => removeRepository(repo));

  const simpleWith = (config: string) =>
    writeTritonModel(repo, 'simple', { config, write: writeSimpleOnnx });
  const boot = () => createTestApp({ MODEL_DIR: repo, ...ENV });
  const file = () => join(repo, 'simple', 'config.pbtxt');

  it.each([
    [
      'name',
      SIMPLE_CONFIG.replace('name: "simple"', 'name: "simpler"'),
      "field 'name': 'simpler' differs from the model's folder name 'simple'",
    ],
    [
      'data_type',
      SIMPLE_CONFIG.replace('TYPE_INT32', 'TYPE_FP32'),
      "field 'input[0].data_type': TYPE_FP32 differs from the model's input 'INPUT0', which is TYPE_INT32 (int32)",
    ],
    [
      'dims',
      SIMPLE_CONFIG.replace('dims: [ 16 ]', 'dims: [ 8 ]'),
      "field 'input[0].dims': [8] does not match: the model's input 'INPUT0' is [-1,16], [16] after the batch dimension (max_batch_size 8)",
    ],
  ])(
    'should fail the boot on a contradicting %s, naming the file and the field',
    async (_, config, message) => {
      simpleWith(config);
      await expect(boot()).rejects.toThrow(`${file()}: ${message}`);
    },
  );

  it('should fail the boot on malformed text, naming the file, the line and the column', async () => {
    simpleWith(SIMPLE_CONFIG.replace('max_batch_size: 8', 'max_batch_size 8'));
    await expect(boot()).rejects.toThrow(
      `${file()}: line 3, column 16: expected ':' after the field name, got '8'`,
    );
  });

  it('should warn about an unknown field, naming the file and the field, and serve the model', async () => {
    simpleWith(`${SIMPLE_CONFIG}\nmax_batch_sise: 4\n`);
    writeTritonModel(repo, 'nobatch', { ...TRITON_MODELS.nobatch, config: NO_BATCH_CONFIG });
    const warn = jest.spyOn(Logger.prototype, 'warn');
    let app: NestExpressApplication | undefined;
    try {
      app = await boot();
      const warnings = warn.mock.calls.map((call) => String(call[0]));
      expect(warnings).toContain(
        `${file()}: ignoring unknown field 'max_batch_sise' (not a field of Triton's ModelConfig in model_config.proto)`,
      );
      await request(app.getHttpServer()).get('/v2/models/simple/config').expect(200);
    } finally {
      warn.mockRestore();
      await closeApp(app);
    }
  });

  it("should serve the other models with STRICT_STARTUP=false, reporting the contradiction as that model's failure", async () => {
    simpleWith(SIMPLE_CONFIG.replace('name: "simple"', 'name: "simpler"'));
    writeTritonModel(repo, 'nobatch', TRITON_MODELS.nobatch);
    const app = await createTestApp({ MODEL_DIR: repo, STRICT_STARTUP: 'false', ...ENV });
    try {
      const ready = await request(app.getHttpServer()).get('/v2/models/nobatch/ready').expect(200);
      expect(ready.body).toEqual({ name: 'nobatch', ready: true });
      const models = await request(app.getHttpServer()).get('/models').expect(200);
      expect(models.body.failed).toEqual([
        expect.objectContaining({
          name: 'simple',
          error: expect.stringContaining("config.pbtxt: field 'name': 'simpler' differs"),
        }),
      ]);
    } finally {
      await closeApp(app);
    }
  });
});
