import { status, type Client } from '@grpc/grpc-js';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { listenOnLoopback, metricValue, waitFor } from './production/utils/http';
import {
  copyShipped,
  gatherOnnx,
  GATHER_ROWS,
  makeRepository,
  removeRepository,
} from './utils/fixtures';
import { failure, freePort, grpcClient, inferenceDefinition, unary } from './utils/grpc';
import { closeApp, createTestApp } from './utils/test-app';

/**
 * Triton's statistics extension against real models and real threads: exact counts after known
 * traffic, over HTTP and gRPC, and the same numbers on /metrics. Merging is driven by rows, not
 * by time: one thread, batches due when BATCH_MAX_SIZE rows are queued, and a batch timeout no
 * request reaches.
 */

const PHASES = ['compute_input', 'compute_infer', 'compute_output'] as const;

interface Duration {
  count: number;
  ns: number;
}

interface ModelStat {
  name: string;
  version: string;
  last_inference: number;
  inference_count: number;
  execution_count: number;
  inference_stats: Record<string, Duration>;
  batch_stats: ({ batch_size: number } & Record<(typeof PHASES)[number], Duration>)[];
  memory_usage: unknown[];
}

const MAX_ROWS = 4;

describe("Triton's statistics extension (e2e, real threads, ONNX Runtime and TF.js)", () => {
  let root: string;
  let app: NestExpressApplication | undefined;
  let url: string;
  let client: Client;

  const get = async (path: string) => {
    const res = await fetch(`${url}${path}`);
    return { status: res.status, body: (await res.json()) as { model_stats: ModelStat[] } };
  };
  const statsOf = async (path: string) => {
    const { status: code, body } = await get(path);
    expect(code).toBe(200);
    return body.model_stats;
  };
  const gather = (indices: number[]) =>
    fetch(`${url}/v2/models/gather/infer`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        inputs: [{ name: 'index', shape: [indices.length], datatype: 'INT32', data: indices }],
      }),
    }).then((res) => res.status);
  const metrics = async () => (await fetch(`${url}/metrics`)).text();

  beforeAll(async () => {
    root = await makeRepository({
      'gather/1': gatherOnnx,
      'iris/1': copyShipped('iris/1'),
      'iris/2': copyShipped('iris/2'),
    });
    const port = await freePort();
    app = await createTestApp({
      MODEL_DIR: root,
      MODEL_VERSION_POLICY: 'all',
      INFERENCE_THREADS: '1',
      BATCH_MAX_SIZE: String(MAX_ROWS),
      BATCH_TIMEOUT_MS: '10000',
      REQUEST_TIMEOUT_MS: '0',
      GRPC_PORT: String(port),
    });
    url = await listenOnLoopback(app);
    client = grpcClient(inferenceDefinition(), 'inference.GRPCInferenceService', port);
  }, 60_000);
  afterAll(async () => {
    client?.close();
    await closeApp(app);
    removeRepository(root);
  });

  it('should list every loaded version, with zeros before any traffic', async () => {
    const all = await statsOf('/v2/models/stats');
    expect(all.map((s) => `${s.name}/${s.version}`)).toEqual(['gather/1', 'iris/1', 'iris/2']);
    const zero = { count: 0, ns: 0 };
    expect(all[0]).toEqual({
      name: 'gather',
      version: '1',
      last_inference: 0,
      inference_count: 0,
      execution_count: 0,
      inference_stats: {
        success: zero,
        fail: zero,
        queue: zero,
        compute_input: zero,
        compute_infer: zero,
        compute_output: zero,
        cache_hit: zero,
        cache_miss: zero,
      },
      batch_stats: [],
      memory_usage: [],
    });
    expect(await statsOf('/v2/models/iris/stats')).toEqual(all.slice(1));
    expect(await statsOf('/v2/models/iris/versions/1/stats')).toEqual([all[1]]);
  });

  it('should count rows, requests and engine runs exactly after known traffic, merged batches once', async () => {
    const before = Date.now();
    // Four single rows: the batch is due when the fourth is queued, so it is one run of 4.
    expect(await Promise.all([0, 1, 2, 3].map((i) => gather([i])))).toEqual([200, 200, 200, 200]);
    // Eight rows in one request: due at once, run alone.
    expect(await gather([0, 1, 2, 3, 4, 5, 6, 7])).toBe(200);
    // An index past the table fails inside ONNX Runtime: admitted, run, failed.
    expect(await gather([0, 1, GATHER_ROWS + 40, 2])).toBe(400);
    // Refused by validation before admission (a second dimension): not counted at all.
    const refused = await fetch(`${url}/v2/models/gather/infer`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        inputs: [{ name: 'index', shape: [1, 1], datatype: 'INT32', data: [1] }],
      }),
    });
    expect(refused.status).toBe(400);

    const [stats] = await statsOf('/v2/models/gather/versions/1/stats');
    expect(stats).toMatchObject({
      name: 'gather',
      version: '1',
      inference_count: 12,
      execution_count: 2,
      inference_stats: {
        success: { count: 5 },
        fail: { count: 1 },
        queue: { count: 5 },
        compute_input: { count: 5 },
        compute_infer: { count: 5 },
        compute_output: { count: 5 },
        cache_hit: { count: 0, ns: 0 },
        cache_miss: { count: 0, ns: 0 },
      },
    });
    expect(stats.last_inference).toBeGreaterThanOrEqual(before);
    expect(stats.last_inference).toBeLessThanOrEqual(Date.now());
    for (const field of ['success', 'fail', 'queue', ...PHASES]) {
      expect([field, stats.inference_stats[field].ns > 0]).toEqual([field, true]);
    }
    expect(stats.batch_stats.map((b) => b.batch_size)).toEqual([4, 8]);
    for (const batch of stats.batch_stats) {
      for (const phase of PHASES) {
        expect(batch[phase]).toEqual({ count: 1, ns: expect.any(Number) });
        expect(batch[phase].ns).toBeGreaterThan(0);
      }
    }

    // A TF.js model's phases are timed too; the other versions are untouched.
    const iris = await fetch(`${url}/v2/models/iris/versions/2/infer`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        inputs: [{ name: 'features', shape: [4, 4], datatype: 'FP32', data: Array(16).fill(1) }],
      }),
    });
    expect(iris.status).toBe(200);
    const [iris1, iris2] = await statsOf('/v2/models/iris/stats');
    expect([iris1.inference_count, iris1.execution_count]).toEqual([0, 0]);
    expect(iris2).toMatchObject({ inference_count: 4, execution_count: 1 });
    expect(iris2.batch_stats.map((b) => b.batch_size)).toEqual([4]);
    for (const phase of PHASES) expect(iris2.inference_stats[phase].ns).toBeGreaterThan(0);
  }, 60_000);

  it('should only grow with more traffic', async () => {
    const [before] = await statsOf('/v2/models/gather/stats');
    expect(await gather([9, 8, 7, 6])).toBe(200);
    const [after] = await statsOf('/v2/models/gather/stats');
    expect(after.inference_count).toBe(before.inference_count + 4);
    expect(after.execution_count).toBe(before.execution_count + 1);
    expect(after.last_inference).toBeGreaterThanOrEqual(before.last_inference);
    for (const field of ['success', 'queue', ...PHASES]) {
      expect(after.inference_stats[field].count).toBe(before.inference_stats[field].count + 1);
      expect(after.inference_stats[field].ns).toBeGreaterThan(before.inference_stats[field].ns);
    }
    expect(after.inference_stats.fail).toEqual(before.inference_stats.fail);
    expect(after.batch_stats.find((b) => b.batch_size === 4)?.compute_infer).toMatchObject({
      count: 2,
    });
  });

  it('should answer gRPC ModelStatistics with the same numbers as HTTP', async () => {
    for (const [message, path] of [
      [{}, '/v2/models/stats'],
      [{ name: 'iris' }, '/v2/models/iris/stats'],
      [{ name: 'gather', version: '1' }, '/v2/models/gather/versions/1/stats'],
    ] as const) {
      const http = await statsOf(path);
      const grpc = await unary<{ model_stats: ModelStat[] }>(client, 'ModelStatistics', message);
      // gRPC adds Triton's response_stats map (decoupled models only): empty here.
      expect(grpc).toEqual({
        model_stats: http.map((stats) => ({ ...stats, response_stats: {} })),
      });
    }
  });

  it('should give the same request counts on /metrics', async () => {
    const [stats] = await statsOf('/v2/models/gather/stats');
    const text = await metrics();
    const labels = { model: 'gather', version: '1' };
    expect([
      metricValue(text, 'model_inference_total', { ...labels, outcome: 'ok' }),
      metricValue(text, 'model_inference_total', { ...labels, outcome: 'error' }),
      metricValue(text, 'model_inference_rows_total', labels),
      metricValue(text, 'model_executions_total', labels),
    ]).toEqual([
      stats.inference_stats.success.count,
      stats.inference_stats.fail.count,
      stats.inference_count,
      stats.execution_count,
    ]);
    expect([stats.inference_stats.success.count, stats.inference_stats.fail.count]).toEqual([6, 1]);
    // Versions with no traffic have their series, at zero.
    expect(metricValue(text, 'model_executions_total', { model: 'iris', version: '1' })).toBe(0);
  });

  it("should document the three routes in the OpenAPI document with Triton's fields", async () => {
    type Schema = { $ref?: string; properties?: Record<string, Schema>; items?: Schema };
    const doc = (await (await fetch(`${url}/docs-json`)).json()) as {
      paths: Record<
        string,
        {
          get: {
            responses: Record<string, { content: { 'application/json': { schema: Schema } } }>;
          };
        }
      >;
      components: { schemas: Record<string, Schema> };
    };
    const schema = (ref?: string) => doc.components.schemas[ref!.split('/').pop()!];
    for (const path of [
      '/v2/models/stats',
      '/v2/models/{name}/stats',
      '/v2/models/{name}/versions/{version}/stats',
    ]) {
      const ok = doc.paths[path]?.get.responses['200'].content['application/json'].schema;
      const stat = schema(schema(ok?.$ref).properties!.model_stats.items!.$ref);
      expect([path, Object.keys(stat.properties!)]).toEqual([
        path,
        [
          'name',
          'version',
          'last_inference',
          'inference_count',
          'execution_count',
          'inference_stats',
          'batch_stats',
          'memory_usage',
        ],
      ]);
    }
    expect(Object.keys(doc.paths['/v2/models/{name}/stats'].get.responses)).toContain('404');
  });

  it('should answer 404 in the V2 error body for an unknown model or version, on HTTP and gRPC', async () => {
    for (const path of [
      '/v2/models/nope/stats',
      '/v2/models/nope/versions/1/stats',
      '/v2/models/gather/versions/9/stats',
    ]) {
      const res = await get(path);
      expect([path, res.status]).toEqual([path, 404]);
      expect(res.body).toEqual({ error: expect.stringMatching(/nope|9/) });
    }
    const unknown = await get('/v2/models/nope/stats');
    const error = await failure(unary(client, 'ModelStatistics', { name: 'nope' }));
    expect(error.code).toBe(status.NOT_FOUND);
    expect(error.details).toBe((unknown.body as unknown as { error: string }).error);
    const version = await failure(
      unary(client, 'ModelStatistics', { name: 'gather', version: '9' }),
    );
    expect(version.code).toBe(status.NOT_FOUND);
    const nameless = await failure(unary(client, 'ModelStatistics', { version: '1' }));
    expect(nameless.code).toBe(status.INVALID_ARGUMENT);
    expect(nameless.details).toBe(
      "version '1' is given without a name: name the model whose version you ask for",
    );
  });

  it('should count a request whose deadline passed while it was queued as a fail', async () => {
    const [before] = await statsOf('/v2/models/gather/stats');
    // One row of the BATCH_MAX_SIZE the batch waits for: it is still queued when its deadline
    // passes, whatever the machine's speed (the batch timeout is 20 times longer).
    const expired = await failure(
      unary(
        client,
        'ModelInfer',
        {
          model_name: 'gather',
          inputs: [
            { name: 'index', datatype: 'INT32', shape: [1], contents: { int_contents: [1] } },
          ],
        },
        { deadline: Date.now() + 500 },
      ),
    );
    expect(expired.code).toBe(status.DEADLINE_EXCEEDED);
    await waitFor(
      async () =>
        (await statsOf('/v2/models/gather/stats'))[0].inference_stats.fail.count >
        before.inference_stats.fail.count,
    );
    const [after] = await statsOf('/v2/models/gather/stats');
    expect(after.inference_stats.fail.count).toBe(before.inference_stats.fail.count + 1);
    expect(after.inference_stats.fail.ns).toBeGreaterThan(before.inference_stats.fail.ns);
    expect([after.inference_count, after.execution_count]).toEqual([
      before.inference_count,
      before.execution_count,
    ]);
    const text = await metrics();
    expect(
      metricValue(text, 'model_inference_total', {
        model: 'gather',
        version: '1',
        outcome: 'error',
      }),
    ).toBe(after.inference_stats.fail.count);
  });
});
