import type { NestExpressApplication } from '@nestjs/platform-express';
import { statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SIMPLE_CONFIG, writeSimpleOnnx, writeTritonModel } from '../scripts/lib/triton-repository';
import { InferencePool } from '../src/core/inference/inference-pool';
import { listenOnLoopback, metricValue } from './production/utils/http';
import { makeRepository, removeRepository } from './utils/fixtures';
import { closeApp, createTestApp } from './utils/test-app';

/** Triton's `simple` (OUTPUT0 = INPUT0 + INPUT1) under another name, with its own settings. */
function simpleModel(
  root: string,
  name: string,
  settings: { maxBatchSize?: number; extra?: string; versions?: number[] },
): void {
  const config =
    SIMPLE_CONFIG.replace('name: "simple"', `name: "${name}"`).replace(
      'max_batch_size: 8',
      `max_batch_size: ${settings.maxBatchSize ?? 8}`,
    ) + (settings.extra ?? '');
  writeTritonModel(root, name, { config, write: writeSimpleOnnx, versions: settings.versions });
}

/** A Triton-style repository holding the models described (nothing else). */
async function repository(models: (root: string) => void): Promise<string> {
  const root = await makeRepository({});
  models(root);
  return root;
}

interface Answer {
  status: number;
  body: { outputs?: { name: string; data: number[] }[]; error?: string };
}

/** `rows` rows of INPUT0 = i, INPUT1 = 1 to a model (or one of its versions). */
async function infer(url: string, model: string, rows = 1, from = 0): Promise<Answer> {
  const values = (value: (row: number) => number) =>
    Array.from({ length: rows * 16 }, (_, i) => value(from + Math.floor(i / 16)));
  const res = await fetch(`${url}/v2/models/${model}/infer`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      inputs: [
        { name: 'INPUT0', shape: [rows, 16], datatype: 'INT32', data: values((row) => row) },
        { name: 'INPUT1', shape: [rows, 16], datatype: 'INT32', data: values(() => 1) },
      ],
    }),
  });
  return { status: res.status, body: (await res.json()) as Answer['body'] };
}

const metrics = async (url: string) => (await fetch(`${url}/metrics`)).text();

/** Batches a model ran and the rows in them (model_batch_rows), from /metrics. */
async function batches(url: string, model: string): Promise<{ count: number; rows: number }> {
  const text = await metrics(url);
  const labels = { model, version: '1' };
  return {
    count: metricValue(text, 'model_batch_rows_count', labels) ?? 0,
    rows: metricValue(text, 'model_batch_rows_sum', labels) ?? 0,
  };
}

/** Polls until `check` holds (hot reload passes, requests queued): events, not a fixed sleep. */
async function until(check: () => Promise<boolean>, what: string, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Each answer is the right sum for its own rows (merged requests were split back in order). */
function expectSums(answers: Answer[]): void {
  answers.forEach((answer, i) => {
    expect(answer.status).toBe(200);
    const sum = answer.body.outputs!.find((o) => o.name === 'OUTPUT0')!;
    expect(sum.data).toEqual(Array.from({ length: 16 }, () => i + 1));
  });
}

describe('Per-model settings: batching, threads holding a model (e2e, ONNX Runtime, 2 threads)', () => {
  let root: string;
  let app: NestExpressApplication | undefined;
  let url: string;
  const LONG_DELAY = 'max_queue_delay_microseconds: 600000000'; // 10 minutes: never waited out here

  beforeAll(async () => {
    root = await repository((dir) => {
      simpleModel(dir, 'pairs', {
        maxBatchSize: 2,
        extra: `dynamic_batching { preferred_batch_size: [ 2 ] ${LONG_DELAY} }\n`,
      });
      simpleModel(dir, 'quads', {
        maxBatchSize: 4,
        extra: `dynamic_batching { preferred_batch_size: [ 4 ] ${LONG_DELAY} }\n`,
      });
      simpleModel(dir, 'single', { extra: 'instance_group [ { count: 1 kind: KIND_CPU } ]\n' });
      simpleModel(dir, 'solo', {});
      simpleModel(dir, 'waiting', {
        extra: 'dynamic_batching { max_queue_delay_microseconds: 5000000 }\n',
      });
      simpleModel(dir, 'wide', { extra: 'instance_group [ { count: 5 } ]\n' });
    });
    app = await createTestApp({ MODEL_DIR: root, INFERENCE_THREADS: '2', REQUEST_TIMEOUT_MS: '0' });
    url = await listenOnLoopback(app);
  }, 120_000);
  afterAll(async () => {
    await closeApp(app);
    removeRepository(root);
  });

  it('should merge as many rows as each model allows: its preferred size, sent as soon as it is queued', async () => {
    expectSums(await Promise.all([1, 2, 3, 4].map((_, i) => infer(url, 'pairs', 1, i))));
    expectSums(await Promise.all([1, 2, 3, 4].map((_, i) => infer(url, 'quads', 1, i))));
    expect(await batches(url, 'pairs')).toEqual({ count: 2, rows: 4 });
    expect(await batches(url, 'quads')).toEqual({ count: 1, rows: 4 });
  }, 60_000);

  it('should not merge the requests of a model configured without dynamic_batching', async () => {
    expectSums(await Promise.all([1, 2, 3, 4].map((_, i) => infer(url, 'solo', 1, i))));
    expect(await batches(url, 'solo')).toEqual({ count: 4, rows: 4 });
  }, 60_000);

  it('should hold queued requests up to the model max_queue_delay_microseconds, then run them as one batch', async () => {
    const answers = Promise.all([0, 1, 2].map((i) => infer(url, 'waiting', 1, i)));
    // All three wait in the queue (the threads are idle): nothing ran when the third arrived.
    await until(async () => {
      const text = await metrics(url);
      return metricValue(text, 'model_queue_depth', { model: 'waiting', version: '1' }) === 3;
    }, 'the three requests are queued');
    expectSums(await answers);
    expect(await batches(url, 'waiting')).toEqual({ count: 1, rows: 3 });
  }, 60_000);

  it("should refuse a request with more rows than max_batch_size with 400, in Triton's words", async () => {
    const refused = await infer(url, 'solo', 9);
    expect(refused.status).toBe(400);
    expect(refused.body.error).toMatch(/^inference request batch-size must be <= 8 for 'solo'/);
    expect((await infer(url, 'solo', 8)).status).toBe(200);
  });

  it('should hold a model with instance_group count 1 in one thread only, and run all its requests there', async () => {
    const before = await metrics(url);
    const ran = (text: string, thread: string) =>
      metricValue(text, 'inference_thread_batches_total', { thread }) ?? NaN;
    const bytes = (text: string, thread: string) =>
      metricValue(text, 'inference_thread_engine_bytes', { thread, engine: 'onnx' }) ?? NaN;
    const instances = (text: string, model: string) =>
      metricValue(text, 'model_instances', { model, version: '1' });
    expect(instances(before, 'single')).toBe(1);
    expect(instances(before, 'solo')).toBe(2);
    expect(instances(before, 'wide')).toBe(2); // count 5 on 2 threads: every thread
    // Models load in name order into the least loaded threads: `single` went to thread 0, whose
    // engine holds exactly one more model file than thread 1's.
    const modelFile = statSync(join(root, 'single', '1', 'model.onnx')).size;
    expect(bytes(before, '0') - bytes(before, '1')).toBe(modelFile);
    const pool = app!.get(InferencePool);
    expect(pool.snapshot().map((t) => t.versions.includes('single/1'))).toEqual([true, false]);

    expectSums(await Promise.all([1, 2, 3, 4, 5, 6].map((_, i) => infer(url, 'single', 1, i))));
    const after = await metrics(url);
    const { count } = await batches(url, 'single');
    expect(count).toBeGreaterThan(0);
    expect(ran(after, '0') - ran(before, '0')).toBe(count);
    expect(ran(after, '1') - ran(before, '1')).toBe(0);
  }, 60_000);
});

describe('Per-model settings: refused at boot (e2e)', () => {
  it('should refuse to start a model that asks for a GPU, naming the file and the field', async () => {
    const root = await repository((dir) => {
      simpleModel(dir, 'gpu', { extra: 'instance_group [ { count: 1 kind: KIND_GPU } ]\n' });
    });
    try {
      await expect(createTestApp({ MODEL_DIR: root, INFERENCE_THREADS: '1' })).rejects.toThrow(
        `${join(root, 'gpu', 'config.pbtxt')}: field 'instance_group[0].kind': KIND_GPU: this server runs models on CPU threads only`,
      );
    } finally {
      removeRepository(root);
    }
  }, 60_000);

  it('should refuse to start when a specific version is not on disk, and serve the others without STRICT_STARTUP', async () => {
    const root = await repository((dir) => {
      simpleModel(dir, 'missing', {
        versions: [1, 2],
        extra: 'version_policy: { specific: { versions: [ 1, 4 ] } }\n',
      });
    });
    let app: NestExpressApplication | undefined;
    try {
      await expect(createTestApp({ MODEL_DIR: root, INFERENCE_THREADS: '1' })).rejects.toThrow(
        `${join(root, 'missing', 'config.pbtxt')}: version_policy.specific lists version 4 of model 'missing', which is not on disk (versions found: 1, 2)`,
      );
      app = await createTestApp({
        MODEL_DIR: root,
        INFERENCE_THREADS: '1',
        STRICT_STARTUP: 'false',
      });
      const url = await listenOnLoopback(app);
      expect(await versions(url, 'missing')).toEqual(['1']);
    } finally {
      await closeApp(app);
      removeRepository(root);
    }
  }, 60_000);
});

/** The versions a model serves, as V2 metadata lists them. */
async function versions(url: string, model: string): Promise<string[]> {
  const res = await fetch(`${url}/v2/models/${model}`);
  if (res.status !== 200) return [];
  return ((await res.json()) as { versions: string[] }).versions.sort();
}

describe('Per-model version policy, at boot and in hot reload (e2e)', () => {
  let root: string;
  let app: NestExpressApplication | undefined;
  let url: string;

  beforeAll(async () => {
    root = await repository((dir) => {
      simpleModel(dir, 'latest2', {
        versions: [1, 2, 3],
        extra: 'version_policy: { latest: { num_versions: 2 } }\n',
      });
      simpleModel(dir, 'every', { versions: [1, 2], extra: 'version_policy: { all: {} }\n' });
      simpleModel(dir, 'picked', {
        versions: [1, 2, 3],
        extra: 'version_policy: { specific: { versions: [ 1, 3 ] } }\n',
      });
      simpleModel(dir, 'plain', { versions: [1, 2] }); // MODEL_VERSION_POLICY=latest
    });
    app = await createTestApp({
      MODEL_DIR: root,
      INFERENCE_THREADS: '1',
      MODEL_POLL_SECONDS: '1',
    });
    url = await listenOnLoopback(app);
  }, 120_000);
  afterAll(async () => {
    await closeApp(app);
    removeRepository(root);
  });

  it('should serve the versions each model policy names, MODEL_VERSION_POLICY for the others', async () => {
    expect(await versions(url, 'latest2')).toEqual(['2', '3']);
    expect(await versions(url, 'every')).toEqual(['1', '2']);
    expect(await versions(url, 'picked')).toEqual(['1', '3']);
    expect(await versions(url, 'plain')).toEqual(['2']);
  });

  it('should follow a policy changed in config.pbtxt while serving', async () => {
    const file = join(root, 'every', 'config.pbtxt');
    writeFileSync(
      file,
      SIMPLE_CONFIG.replace('name: "simple"', 'name: "every"') +
        'version_policy: { specific: { versions: [ 1 ] } }\n',
    );
    await until(
      async () => (await versions(url, 'every')).join() === '1',
      'only version 1 of every is served',
    );
  }, 60_000);

  it('should reload a version whose settings changed, and apply the new ones', async () => {
    const file = join(root, 'plain', 'config.pbtxt');
    expect((await infer(url, 'plain', 5)).status).toBe(200);
    writeFileSync(
      file,
      SIMPLE_CONFIG.replace('name: "simple"', 'name: "plain"').replace(
        'max_batch_size: 8',
        'max_batch_size: 4',
      ),
    );
    await until(async () => (await infer(url, 'plain', 5)).status === 400, 'plain refuses 5 rows');
    expect((await infer(url, 'plain', 5)).body.error).toMatch(
      /^inference request batch-size must be <= 4 for 'plain'/,
    );
    expect(await versions(url, 'plain')).toEqual(['2']);
  }, 60_000);
});
