import type { NestExpressApplication } from '@nestjs/platform-express';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { InferencePool } from '../src/core/inference/inference-pool';
import { listenOnLoopback, metricValue, waitFor } from './production/utils/http';
import { runServer } from './production/utils/server';
import {
  batchSumGraph,
  copyShipped,
  fixedBatchGraph,
  makeRepository,
  ModelWriter,
  removeRepository,
  rowSumGraph,
  SLOW_WIDTH,
  slowGraph,
} from './utils/fixtures';
import { killInferenceThread } from './utils/inference-threads';
import { closeApp, createTestApp } from './utils/test-app';

const unbatchedIris: ModelWriter = (dir) => {
  copyShipped('iris/2')(dir);
  const path = join(dir, 'metadata.json');
  const metadata = JSON.parse(readFileSync(path, 'utf8')) as object;
  writeFileSync(path, JSON.stringify({ ...metadata, batching: false }));
};

interface Answer {
  status: number;
  body: { outputs?: { data: number[]; shape: number[] }[]; error?: string };
  ms: number;
}

function inferBody(model: string, rows: number[][]): string {
  const name = model === 'iris' ? 'features' : 'x';
  const shape = [rows.length, rows[0].length];
  return JSON.stringify({ inputs: [{ name, shape, datatype: 'FP32', data: rows.flat() }] });
}

/** A V2 request; a body built beforehand keeps a large one from blocking this (shared) event loop. */
async function infer(url: string, model: string, rows: number[][] | string): Promise<Answer> {
  const started = performance.now();
  const res = await fetch(`${url}/v2/models/${model}/infer`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: typeof rows === 'string' ? rows : inferBody(model, rows),
  });
  const body = (await res.json()) as Answer['body'];
  return { status: res.status, body, ms: performance.now() - started };
}

const irisRow = (i: number) => [
  4 + (i % 7) * 0.5,
  2 + (i % 5) * 0.4,
  1 + (i % 11) * 0.5,
  (i % 13) * 0.2,
];
/** A slow request: `rows` rows of the slow model (about 2-5 ms per row on wasm here). */
const slowRows = (rows: number, value = 1) =>
  Array.from({ length: rows }, () => new Array<number>(SLOW_WIDTH).fill(value));
const timed = async (url: string) => {
  const started = performance.now();
  const res = await fetch(url);
  return { status: res.status, ms: performance.now() - started };
};

describe('Inference threads and dynamic batching (e2e, real HTTP on loopback)', () => {
  let root: string;
  let app: NestExpressApplication | undefined;
  let url: string;

  beforeAll(async () => {
    root = await makeRepository({
      iris: copyShipped('iris/2'),
      unbatched: unbatchedIris,
      sum: batchSumGraph,
      rows: rowSumGraph,
      fixed: fixedBatchGraph,
      slow: slowGraph(),
      // Ten times the work per row: long runs from small bodies, whose upload never races a timer.
      slower: slowGraph(400),
    });
  });
  afterAll(() => removeRepository(root));

  const start = async (env: Record<string, string>) => {
    app = await createTestApp({ MODEL_DIR: root, ...env });
    url = await listenOnLoopback(app);
  };
  afterEach(async () => {
    await closeApp(app);
    app = undefined;
  });

  describe('with two threads and BATCH_TIMEOUT_MS=10', () => {
    it('should answer every concurrent request exactly as it answers alone, merging them into batches', async () => {
      // A short wait lets concurrent requests gather even though both threads are idle.
      await start({ INFERENCE_THREADS: '2', BATCH_TIMEOUT_MS: '10' });
      const inputs = Array.from({ length: 120 }, (_, i) =>
        Array.from({ length: 1 + (i % 3) }, (_, r) => irisRow(i + r)),
      );
      const alone: Answer[] = [];
      for (const rows of inputs) alone.push(await infer(url, 'iris', rows));
      const together = await Promise.all(inputs.map((rows) => infer(url, 'iris', rows)));
      together.forEach((answer, i) => {
        expect(answer.status).toBe(200);
        expect(answer.body.outputs).toEqual(alone[i].body.outputs);
      });
      const metrics = await (await fetch(`${url}/metrics`)).text();
      const labels = { model: 'iris', version: '1' };
      const batches = metricValue(metrics, 'model_batch_rows_count', labels)!;
      const rows = metricValue(metrics, 'model_batch_rows_sum', labels)!;
      expect(rows).toBe(2 * inputs.flat().length); // every row ran exactly once per pass
      expect(batches).toBeLessThan(2 * inputs.length); // so some requests shared a batch
    }, 60_000);
  });

  describe('with two threads and default batching', () => {
    beforeEach(() => start({ INFERENCE_THREADS: '2' }));

    it('should say per version whether requests are merged', async () => {
      const batching = async (name: string) =>
        (
          (await (await fetch(`${url}/models/${name}`)).json()) as {
            versions: { batching: boolean }[];
          }
        ).versions[0].batching;
      expect(await batching('iris')).toBe(true);
      expect(await batching('rows')).toBe(true);
      expect(await batching('sum')).toBe(false); // output does not follow the batch (warm-up check)
      expect(await batching('fixed')).toBe(false); // fixed batch dimension [1,2]
      expect(await batching('unbatched')).toBe(false); // "batching": false in metadata.json
    });

    it('should run a model whose outputs do not follow the batch request by request', async () => {
      const inputs = Array.from({ length: 40 }, (_, i) => [
        [i, 1],
        [2 * i, 2],
      ]);
      const answers = await Promise.all(inputs.map((rows) => infer(url, 'sum', rows)));
      answers.forEach((answer, i) => {
        expect(answer.status).toBe(200);
        expect(answer.body.outputs![0].data).toEqual([3 * i, 3]);
      });
    });

    it('should never merge inputs whose free inner dimension differs, nor exceed a fixed batch', async () => {
      const ragged = Array.from({ length: 40 }, (_, i) => [
        Array.from({ length: 1 + (i % 5) }, (_, j) => i + j),
      ]);
      const answers = await Promise.all(ragged.map((rows) => infer(url, 'rows', rows)));
      answers.forEach((answer, i) => {
        expect(answer.status).toBe(200);
        expect(answer.body.outputs![0].data).toEqual([ragged[i][0].reduce((a, b) => a + b, 0)]);
      });
      const fixed = await Promise.all(
        Array.from({ length: 20 }, (_, i) => infer(url, 'fixed', [[i, 1]])),
      );
      fixed.forEach((answer, i) => expect(answer.body.outputs![0].data).toEqual([10 * i, 100]));
    });

    it('should keep health, metrics and the catalog answering within milliseconds while inference runs', async () => {
      // Each request keeps one thread busy for a second or more: a probe that waited for one
      // would take that long, while a probe on a loaded machine can take a few hundred ms.
      const busy = [infer(url, 'slow', slowRows(480)), infer(url, 'slow', slowRows(480))];
      // Probed once both run in the threads: their bodies are parsed and handed over by then,
      // so what the probes measure is the main thread while inference runs, nothing else.
      await waitFor(async () => {
        const metrics = await (await fetch(`${url}/metrics`)).text();
        return metricValue(metrics, 'inference_threads', { state: 'busy' }) === 2;
      });
      const probes = [];
      for (const path of [
        '/health/live',
        '/v2/health/live',
        '/metrics',
        '/models',
        '/health/live',
      ]) {
        probes.push(await timed(`${url}${path}`));
      }
      const answers = await Promise.all(busy);
      // Run on the main thread, each probe would wait for a whole slow inference.
      const slowest = Math.min(...answers.map((a) => a.ms));
      probes.forEach((probe) => {
        expect(probe.status).toBe(200);
        expect(probe.ms).toBeLessThan(slowest / 3);
      });
      answers.forEach((a) => expect(a.body.outputs![0].data[0]).toBe(SLOW_WIDTH));
      // Both threads worked since the last scrape, and the scrape says so.
      const metrics = await (await fetch(`${url}/metrics`)).text();
      for (const thread of ['0', '1']) {
        expect(metricValue(metrics, 'inference_thread_busy_ratio', { thread })).toBeGreaterThan(0);
      }
    });

    it('should answer 503 for the requests of a thread that dies, replace it, and keep serving', async () => {
      const pool = app!.get(InferencePool);
      const doomed = infer(url, 'slow', slowRows(200));
      await waitFor(() => pool.snapshot()[0].busy);
      await killInferenceThread(pool, 0);
      const answer = await doomed;
      expect(answer.status).toBe(503);
      expect(answer.body.error).toMatch(/inference thread 0 stopped .* retry the request/);
      // The other thread still serves: ready, and requests succeed during the replacement.
      expect((await fetch(`${url}/health/ready`)).status).toBe(200);
      expect((await infer(url, 'iris', [irisRow(1)])).status).toBe(200);
      await waitFor(() => pool.snapshot().every((t) => t.ready), 15_000);
      const both = await Promise.all([
        infer(url, 'slow', slowRows(20, 2)),
        infer(url, 'slow', slowRows(20, 3)),
      ]);
      expect(both.map((a) => a.body.outputs![0].data[0])).toEqual([2 * SLOW_WIDTH, 3 * SLOW_WIDTH]);
    });
  });

  describe('with one thread', () => {
    /** Rows the slower model has run, in all its batches. */
    const rowsRunBySlower = async () =>
      metricValue(await (await fetch(`${url}/metrics`)).text(), 'model_batch_rows_sum', {
        model: 'slower',
        version: '1',
      }) ?? 0;

    it('should answer 504 at REQUEST_TIMEOUT_MS while the inference still runs, and drop the queued request unrun', async () => {
      // A separate server process (node dist/main.js): this test's own event loop must not delay
      // the requests it sends. Each request takes seconds in the thread (150 rows of the slower
      // model, ~1.5 s on a quiet machine, ten times that beside two CPU hogs, since inference
      // threads run at nice 10) from a 300 kB body, against a 0.5 s timeout.
      const server = await runServer({
        MODEL_DIR: root,
        INFERENCE_THREADS: '1',
        REQUEST_TIMEOUT_MS: '500',
        BATCH_MAX_SIZE: '150', // one request per batch: the second one can only wait in the queue
      });
      const metric = async (name: string) =>
        metricValue(await (await fetch(`${server.url}/metrics`)).text(), name, {
          model: 'slower',
          version: '1',
        });
      try {
        const body = inferBody('slower', slowRows(150));
        const answers = await Promise.all([
          infer(server.url, 'slower', body),
          infer(server.url, 'slower', body),
        ]);
        for (const answer of answers) {
          expect(answer.status).toBe(504);
          expect(answer.body.error).toMatch(/not answered within 500 ms \(REQUEST_TIMEOUT_MS\)/);
        }
        // Answered while the first run still goes on: no inference of the model has ended yet.
        expect(await metric('model_inference_duration_seconds_count')).toBeUndefined();
        // Once it ends, it is the only batch that ever ran: the queued one was dropped unrun.
        await waitFor(
          async () => (await metric('model_inference_duration_seconds_count')) === 1,
          90_000,
        );
        expect(await metric('model_batch_rows_count')).toBe(1);
      } finally {
        await server.stop();
      }
    }, 120_000);

    it('should drop a queued request whose client went away', async () => {
      // One batch of 150 rows of the slower model keeps the one thread busy for seconds (~1.5 s
      // on a quiet machine), so a row sent after it can only wait in the queue, however slowly
      // this busy process gets it there; the queue then holds that row alone.
      await start({ INFERENCE_THREADS: '1', BATCH_MAX_SIZE: '150' });
      const warmUp = await rowsRunBySlower();
      const running = infer(url, 'slower', slowRows(150));
      // Its body is parsed off the main thread: a small request sent now could overtake it.
      const pool = app!.get(InferencePool);
      await waitFor(() => pool.snapshot()[0].busy);
      const client = new AbortController();
      const abandoned = fetch(`${url}/v2/models/slower/infer`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          inputs: [{ name: 'x', shape: [1, SLOW_WIDTH], datatype: 'FP32', data: slowRows(1)[0] }],
        }),
        signal: client.signal,
      }).catch(() => 'aborted');
      await waitFor(async () => {
        const metrics = await (await fetch(`${url}/metrics`)).text();
        return metricValue(metrics, 'model_queue_depth', { model: 'slower', version: '1' }) === 1;
      }, 60_000);
      client.abort();
      expect(await abandoned).toBe('aborted');
      expect((await running).status).toBe(200);
      // The queue is first come, first served: had the abandoned row stayed queued, it would run
      // before (or beside) this one.
      expect((await infer(url, 'slower', slowRows(1))).status).toBe(200);
      expect((await rowsRunBySlower()) - warmUp).toBe(151);
    }, 120_000);
  });
});
