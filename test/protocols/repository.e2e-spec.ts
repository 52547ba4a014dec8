import { Metadata, status } from '@grpc/grpc-js';
import { mkdirSync } from 'node:fs';
import type { Client } from '@grpc/grpc-js';
import { NestExpressApplication } from '@nestjs/platform-express';
import request from 'supertest';
import { ModelService } from '../../src/core/model.service';
import { copyShipped, corruptModelJson, makeRepository, removeRepository } from '../utils/fixtures';
import { failure, freePort, grpcClient, inferenceDefinition, unary } from '../utils/grpc';
import { closeApp, createTestApp, SHIPPED_MODELS } from '../utils/test-app';
import { listenOnLoopback, waitFor } from '../production/utils/http';

const KEY = 'repository-test-admin-key';
const SERVICE = 'inference.GRPCInferenceService';
const IRIS_ROWS = [5.1, 3.5, 1.4, 0.2, 6.7, 3.1, 5.6, 2.4];
const IRIS_INFER = {
  inputs: [{ name: 'features', shape: [2, 4], datatype: 'FP32', data: IRIS_ROWS }],
};
const LINEAR_INFER = { inputs: [{ name: 'x', shape: [1, 1], datatype: 'FP32', data: [2] }] };

/** gRPC metadata carrying the admin key the way Triton's clients send it. */
function withKey(key = KEY, header = 'triton-grpc-protocol-admin-key'): Metadata {
  const metadata = new Metadata();
  metadata.set(header, key);
  return metadata;
}

/**
 * Triton's model repository extension (extension_model_repository.md): index, load and unload
 * over HTTP and gRPC, on a repository of real models, in explicit mode with an admin key.
 */
describe('Model repository API, MODEL_CONTROL_MODE=explicit with ADMIN_API_KEY (e2e)', () => {
  let app: NestExpressApplication;
  let root: string;
  let grpcPort: number;
  let client: Client;
  const http = () => request(app.getHttpServer());
  const admin = (path: string, body: object = {}) =>
    http().post(path).set('admin-key', KEY).send(body);
  const call = <T = Record<string, unknown>>(
    method: string,
    message: object,
    metadata = withKey(),
  ) => unary<T>(client, method, message, {}, metadata);

  beforeAll(async () => {
    root = await makeRepository({
      'iris/1': copyShipped('iris/1'),
      'iris/2': copyShipped('iris/2'),
      'linear/1': copyShipped('linear/1'),
      'broken/1': corruptModelJson,
    });
    grpcPort = await freePort();
    app = await createTestApp({
      MODEL_DIR: root,
      MODEL_CONTROL_MODE: 'explicit',
      LOAD_MODELS: 'iris, broken',
      STRICT_STARTUP: 'false',
      ADMIN_API_KEY: KEY,
      GRPC_PORT: String(grpcPort),
    });
    client = grpcClient(inferenceDefinition(), SERVICE, grpcPort);
  }, 60_000);
  afterAll(async () => {
    client?.close();
    await closeApp(app);
    removeRepository(root);
  });

  it('should load only LOAD_MODELS at boot and index every model on disk, loaded or not', async () => {
    const res = await admin('/v2/repository/index');
    expect(res.status).toBe(200);
    expect(res.body).toEqual([
      {
        name: 'broken',
        version: '1',
        state: 'UNAVAILABLE',
        reason: expect.stringMatching(
          /^failed to load 'broken' version 1: broken\/1\/model\.json: model\.json is not valid JSON/,
        ),
      },
      { name: 'iris', version: '2', state: 'READY', reason: '' },
      { name: 'linear', version: '1', state: 'UNAVAILABLE', reason: 'unloaded' },
    ]);
    expect(JSON.stringify(res.body)).not.toContain(root);
  });

  it('should index only the ready models with {"ready": true}', async () => {
    const res = await admin('/v2/repository/index', { ready: true });
    expect(res.body).toEqual([{ name: 'iris', version: '2', state: 'READY', reason: '' }]);
  });

  it("should refuse repository calls without the key (401) or with another (403), in Triton's words", async () => {
    for (const path of ['/v2/repository/index', '/v2/repository/models/linear/load']) {
      const without = await http().post(path).send({});
      expect(without.status).toBe(401);
      expect(without.body).toEqual({
        error:
          "This API is restricted, expecting header 'admin-key': repository calls need the server's ADMIN_API_KEY",
      });
      const wrong = await http().post(path).set('admin-key', `${KEY}x`).send({});
      expect(wrong.status).toBe(403);
      expect(wrong.body.error).toMatch(
        /^This API is restricted, expecting header 'admin-key': the key sent is not/,
      );
    }
    // Inference stays open: only the repository API is restricted.
    expect((await http().post('/v2/models/iris/infer').send(IRIS_INFER)).status).toBe(200);
    expect((await admin('/v2/repository/index', { ready: true })).body).toHaveLength(1);
  });

  it('should refuse gRPC repository calls without the key or with another, and take either header', async () => {
    const without = await failure(call('RepositoryIndex', {}, new Metadata()));
    expect(without.code).toBe(status.UNAUTHENTICATED);
    expect(without.details).toBe(
      "This protocol is restricted, expecting header 'triton-grpc-protocol-admin-key': repository calls need the server's ADMIN_API_KEY",
    );
    const wrong = await failure(
      call('RepositoryModelUnload', { model_name: 'iris' }, withKey('no')),
    );
    expect(wrong.code).toBe(status.PERMISSION_DENIED);
    const index = await call<{ models: object[] }>('RepositoryIndex', { ready: true });
    expect(index.models).toEqual([{ name: 'iris', version: '2', state: 'READY', reason: '' }]);
    const plain = await call('RepositoryIndex', { ready: true }, withKey(KEY, 'admin-key'));
    expect(plain).toEqual(index);
  });

  it("should answer a model not loaded with Triton's unknown-model words, on HTTP and gRPC", async () => {
    const res = await http().post('/v2/models/linear/infer').send(LINEAR_INFER);
    expect(res.status).toBe(404);
    expect(res.body.error).toBe(
      "Request for unknown model: 'linear' is not found; available models: iris",
    );
    const error = await failure(call('ModelInfer', { model_name: 'linear' }));
    expect(error.code).toBe(status.NOT_FOUND);
    expect(error.details).toBe(
      "Request for unknown model: 'linear' is not found; available models: iris",
    );
  });

  it('should load a model from the repository, warmed and serving once the call answers', async () => {
    const res = await admin('/v2/repository/models/linear/load');
    expect(res.status).toBe(200);
    expect(res.body).toEqual({});
    const infer = await http().post('/v2/models/linear/infer').send(LINEAR_INFER);
    expect(infer.status).toBe(200);
    // The shipped linear model is y = 3x + 2, fitted: about 8 for x = 2.
    expect(infer.body.outputs[0].data[0]).toBeCloseTo(8, 0);
    expect((await admin('/v2/repository/index', { ready: true })).body).toEqual([
      { name: 'iris', version: '2', state: 'READY', reason: '' },
      { name: 'linear', version: '1', state: 'READY', reason: '' },
    ]);
  });

  it.each([
    [
      'not JSON',
      '{max_batch_size: 8',
      /^failed to load 'linear': parameters\.config is not valid JSON/,
    ],
    [
      'not an object',
      '[8]',
      /^failed to load 'linear': parameters\.config must hold a JSON object/,
    ],
    [
      'not a model configuration',
      '{"max_batch_size": "eight"}',
      /^failed to load 'linear': load request parameters\.config: field 'max_batch_size': /,
    ],
    [
      'contradicting the model file',
      '{"input": [{"name": "x", "data_type": "TYPE_INT32", "dims": [1]}]}',
      /^failed to load 'linear' version 1: load request parameters\.config: field 'input/,
    ],
    [
      'naming another model',
      '{"name": "iris"}',
      /^failed to load 'linear': parameters\.config names model 'iris'/,
    ],
  ])(
    'should refuse an override that is %s with 400, the model serving on',
    async (_what, config, message) => {
      const res = await admin('/v2/repository/models/linear/load', { parameters: { config } });
      expect(res.status).toBe(400);
      expect(res.body.error).toMatch(message);
      expect((await http().post('/v2/models/linear/infer').send(LINEAR_INFER)).status).toBe(200);
    },
  );

  it('should refuse a config parameter that is not a string, or a parameter it does not take', async () => {
    const object = await admin('/v2/repository/models/linear/load', {
      parameters: { config: { max_batch_size: 8 } },
    });
    expect(object.status).toBe(400);
    expect(object.body.error).toMatch(
      /parameters\.config must be a string holding JSON, got object/,
    );
    const other = await admin('/v2/repository/models/linear/load', {
      parameters: { 'file:1/model.onnx': 'x' },
    });
    expect(other.status).toBe(400);
    expect(other.body.error).toMatch(
      /^failed to load 'linear': parameters\.file:1\/model\.onnx is not supported/,
    );
  });

  it('should answer hostile bodies to every repository call with 200 or a 4xx error, and keep serving', async () => {
    const bodies: [string, string][] = [
      ['application/json', 'null'],
      ['application/json', '[]'],
      ['application/json', '"load"'],
      ['application/json', '{"ready":"yes"}'],
      ['application/json', '{"parameters":"config"}'],
      ['application/json', '{"parameters":{"config":"{\\"max_batch_size\\": -1}"}}'],
      ['application/json', '{"parameters":{"config":"{\\"input\\": [[[]]]}"}}'],
      ['application/json', `{"parameters":${'['.repeat(10_000)}${']'.repeat(10_000)}}`],
      ['application/json', '{"__proto__":{"polluted":true}}'],
      ['application/json', '{"parameters":'],
      ['text/plain', 'hello'],
      ['application/octet-stream', '\u0000\u0001'],
    ];
    const failures: string[] = [];
    for (const path of [
      '/v2/repository/index',
      '/v2/repository/models/iris/load',
      '/v2/repository/models/nope/unload',
    ]) {
      for (const [type, body] of bodies) {
        const res = await http()
          .post(path)
          .set('admin-key', KEY)
          .set('content-type', type)
          .send(body);
        const refused =
          res.status >= 400 && res.status < 500 && typeof res.body?.error === 'string';
        if (res.status !== 200 && !refused)
          failures.push(`${res.status} ${path} ${body.slice(0, 60)}`);
      }
    }
    expect(failures).toEqual([]);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    const iris = await http().post('/v2/models/iris/infer').send(IRIS_INFER);
    expect(iris.status).toBe(200);
  });

  it("should answer a load of a model not in the repository with Triton's words", async () => {
    const res = await admin('/v2/repository/models/nope/load');
    expect(res.status).toBe(404);
    expect(res.body.error).toMatch(
      /^failed to load 'nope', failed to poll from model repository: .*its models: broken, iris, linear$/,
    );
  });

  it("should answer a load whose model fails with 400 `failed to load '<m>'`, its reason in the index", async () => {
    const res = await admin('/v2/repository/models/broken/load');
    expect(res.status).toBe(400);
    expect(res.body.error).toMatch(/^failed to load 'broken' version 1: broken\/1\/model\.json: /);
    expect(res.body.error).not.toContain(root);
  });

  it("should answer an unload of a model it never had with Triton's unknown-model words", async () => {
    const res = await admin('/v2/repository/models/nope/unload', {
      parameters: { unload_dependents: false },
    });
    expect(res.status).toBe(404);
    expect(res.body.error).toMatch(
      /^Request for unknown model: 'nope' is not found; available models: /,
    );
  });

  it('should reload a serving model with an override config, then unload it under load: no request fails', async () => {
    // The override is the model's own settings as Triton writes them; the version keeps serving
    // while the new copy loads and warms beside it.
    const override = JSON.stringify({ max_batch_size: 8 });
    const loaded = await admin('/v2/repository/models/iris/load', {
      parameters: { config: override },
    });
    expect(loaded.status).toBe(200);
    // The override replaced the folder's configuration (none here) for this load.
    expect(app.get(ModelService).versionsOf('iris')[0].config.max_batch_size).toBe(8);
    const url = await listenOnLoopback(app);
    const reference = (await http().post('/v2/models/iris/infer').send(IRIS_INFER)).body as {
      outputs: { data: number[] }[];
    };
    expect(reference.outputs[0].data).toHaveLength(6);

    const answers: { status: number; body: string; afterUnload: boolean }[] = [];
    let unloaded = false;
    let sent = 0;
    const MAX_REQUESTS = 600;
    const enoughAfter = () => answers.filter((a) => a.afterUnload).length >= 8;
    const client = async () => {
      while (sent < MAX_REQUESTS && !(unloaded && enoughAfter())) {
        sent++;
        const afterUnload = unloaded;
        const res = await fetch(`${url}/v2/models/iris/infer`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(IRIS_INFER),
        });
        answers.push({ status: res.status, body: await res.text(), afterUnload });
      }
    };
    const clients = Promise.all(Array.from({ length: 4 }, client));
    await waitFor(() => answers.length >= 20);
    const unload = await fetch(`${url}/v2/repository/models/iris/unload`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'admin-key': KEY },
      body: '{}',
    });
    unloaded = true;
    await clients;

    expect(unload.status).toBe(200);
    const statuses = new Set(answers.map((a) => a.status));
    expect([...statuses].filter((s) => s !== 200 && s !== 404)).toEqual([]);
    for (const answer of answers.filter((a) => a.status === 200)) {
      expect((JSON.parse(answer.body) as typeof reference).outputs[0].data).toEqual(
        reference.outputs[0].data,
      );
    }
    for (const answer of answers.filter((a) => a.status === 404)) {
      expect(JSON.parse(answer.body)).toEqual({
        error:
          "Request for unknown model: 'iris' has no available versions; available models: linear",
      });
    }
    expect(answers.filter((a) => a.afterUnload).every((a) => a.status === 404)).toBe(true);
    expect(answers.filter((a) => a.status === 200).length).toBeGreaterThanOrEqual(20);

    expect((await admin('/v2/repository/index')).body).toContainEqual({
      name: 'iris',
      version: '2',
      state: 'UNAVAILABLE',
      reason: 'unloaded',
    });
    const grpcError = await failure(call('ModelInfer', { model_name: 'iris' }));
    expect(grpcError.code).toBe(status.NOT_FOUND);
    expect(grpcError.details).toMatch(
      /^Request for unknown model: 'iris' has no available versions/,
    );
  }, 60_000);

  it('should load and unload over gRPC as over HTTP', async () => {
    expect(await call('RepositoryModelLoad', { model_name: 'iris' })).toEqual({});
    expect((await http().post('/v2/models/iris/infer').send(IRIS_INFER)).status).toBe(200);
    // As Triton's clients send it: unload_dependents, which nothing here has.
    const dependents = { unload_dependents: { bool_param: false } };
    expect(
      await call('RepositoryModelUnload', { model_name: 'linear', parameters: dependents }),
    ).toEqual({});
    expect((await http().post('/v2/models/linear/infer').send(LINEAR_INFER)).status).toBe(404);
    const bad = await failure(
      call('RepositoryModelLoad', {
        model_name: 'linear',
        parameters: { config: { string_param: 'not json' } },
      }),
    );
    expect(bad.code).toBe(status.INVALID_ARGUMENT);
    expect(bad.details).toMatch(/^failed to load 'linear': parameters\.config is not valid JSON/);
    const unknown = await failure(call('RepositoryModelUnload', { model_name: 'nope' }));
    expect(unknown.code).toBe(status.NOT_FOUND);
    expect(unknown.details).toMatch(/^Request for unknown model: 'nope' is not found/);
  });
});

/** MODEL_CONTROL_MODE none (the default) and poll: the index answers, load and unload do not. */
describe.each([
  ['none', {}, /MODEL_CONTROL_MODE=none: the models loaded at boot are fixed/],
  [
    'poll',
    { MODEL_POLL_SECONDS: '3600' },
    /MODEL_CONTROL_MODE=poll: MODEL_DIR is scanned every 3600 s, so add or remove its version folders instead/,
  ],
])('Model repository API, MODEL_CONTROL_MODE=%s (e2e)', (_mode, env, why) => {
  let app: NestExpressApplication;
  let grpcPort: number;
  let client: Client;
  const http = () => request(app.getHttpServer());

  beforeAll(async () => {
    grpcPort = await freePort();
    app = await createTestApp({ GRPC_PORT: String(grpcPort), ...env });
    client = grpcClient(inferenceDefinition(), SERVICE, grpcPort);
  }, 60_000);
  afterAll(async () => {
    client?.close();
    await closeApp(app);
  });

  it('should index every shipped model as READY, with no key needed when none is set', async () => {
    // Triton's Python client posts the index request with an empty body.
    const res = await http().post('/v2/repository/index');
    expect(res.status).toBe(200);
    expect(res.body.map((e: { name: string }) => e.name)).toEqual([
      'digits',
      'iris',
      'iris-graph',
      'iris-onnx',
      'linear',
      'linear-onnx',
    ]);
    expect(res.body.every((e: { state: string }) => e.state === 'READY')).toBe(true);
  });

  it("should refuse load and unload in Triton's words, and keep serving", async () => {
    for (const action of ['load', 'unload']) {
      const res = await http().post(`/v2/repository/models/iris/${action}`).send({});
      expect(res.status).toBe(503);
      expect(res.body.error).toMatch(
        /^explicit model load \/ unload is not allowed if polling is enabled; /,
      );
      expect(res.body.error).toMatch(why);
    }
    const error = await failure(
      unary(client, 'RepositoryModelUnload', { model_name: 'iris' }, {}, new Metadata()),
    );
    expect(error.code).toBe(status.UNAVAILABLE);
    expect(error.details).toMatch(
      /^explicit model load \/ unload is not allowed if polling is enabled/,
    );
    expect((await http().post('/v2/models/iris/infer').send(IRIS_INFER)).status).toBe(200);
  });
});

describe('LOAD_MODELS (e2e)', () => {
  it('should fail the boot naming a model that is not in the repository', async () => {
    await expect(
      createTestApp({ MODEL_CONTROL_MODE: 'explicit', LOAD_MODELS: 'iris,irsi' }),
    ).rejects.toThrow(
      `LOAD_MODELS names 'irsi', not in MODEL_DIR ${SHIPPED_MODELS}; its models: digits, iris, iris-graph, iris-onnx, linear, linear-onnx`,
    );
  });

  it('should boot strictly with the models it names, a broken one it does not name left on disk', async () => {
    const root = await makeRepository({
      'iris/2': copyShipped('iris/2'),
      'broken/1': corruptModelJson,
      'empty/.keep': (dir) => void mkdirSync(dir, { recursive: true }),
    });
    const app = await createTestApp({
      MODEL_DIR: root,
      MODEL_CONTROL_MODE: 'explicit',
      LOAD_MODELS: 'iris',
    }).catch((error: Error) => error);
    try {
      expect(app).not.toBeInstanceOf(Error);
      const index = await request((app as NestExpressApplication).getHttpServer())
        .post('/v2/repository/index')
        .send({});
      expect(index.body).toEqual([
        { name: 'broken', version: '1', state: 'UNAVAILABLE', reason: 'unloaded' },
        {
          name: 'empty',
          state: 'UNAVAILABLE',
          reason: expect.stringMatching(/^failed to load 'empty': Model folder empty has no /),
        },
        { name: 'iris', version: '2', state: 'READY', reason: '' },
      ]);
    } finally {
      if (!(app instanceof Error)) await closeApp(app);
      removeRepository(root);
    }
  });

  it('should load every model with "*"', async () => {
    const app = await createTestApp({ MODEL_CONTROL_MODE: 'explicit', LOAD_MODELS: '*' });
    try {
      const res = await request(app.getHttpServer())
        .post('/v2/repository/index')
        .send({ ready: true });
      expect(res.body).toHaveLength(6);
    } finally {
      await closeApp(app);
    }
  });
});
