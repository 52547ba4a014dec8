import type { NestExpressApplication } from '@nestjs/platform-express';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { ModelService } from '../src/core/model.service';
import { InferencePool } from '../src/core/inference/inference-pool';
import { listenOnLoopback, metricValue, waitFor } from './production/utils/http';
import {
  copyShipped,
  gatherOnnx,
  hugeUpsampleLayers,
  makeRepository,
  removeRepository,
  upsampleLayers,
} from './utils/fixtures';
import { closeApp, createTestApp } from './utils/test-app';

interface Answer {
  status: number;
  body: { outputs?: { name: string; data: number[]; shape: number[] }[]; error?: string };
}

type Datatype = 'FP32' | 'INT32';
interface Call {
  model: string;
  input: string;
  datatype: Datatype;
  shape: number[];
  data: number[];
}

const v2Body = ({ input, datatype, shape, data }: Call) =>
  JSON.stringify({ inputs: [{ name: input, shape, datatype, data }] });

async function infer(url: string, call: Call): Promise<Answer> {
  const res = await fetch(`${url}/v2/models/${call.model}/infer`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: v2Body(call),
  });
  return { status: res.status, body: (await res.json()) as Answer['body'] };
}

/** An image of `instances` x side x side x 1 with distinct small integers (exact in float32). */
const image = (instances: number, side: number, seed: number): Call => ({
  model: 'upsample',
  input: 'image',
  datatype: 'FP32',
  shape: [instances, side, side, 1],
  data: Array.from({ length: instances * side * side }, (_, i) => (seed + i) % 97),
});

/** Requests on every model, each with its own input. */
const everyModel = (i: number): Call[] => [
  {
    model: 'iris',
    input: 'features',
    datatype: 'FP32',
    shape: [1, 4],
    data: [4 + (i % 7) * 0.5, 2 + (i % 5) * 0.4, 1 + (i % 11) * 0.5, (i % 13) * 0.2],
  },
  { model: 'linear', input: 'x', datatype: 'FP32', shape: [1, 1], data: [i - 10] },
  { model: 'gather', input: 'index', datatype: 'INT32', shape: [2], data: [i % 10, (i * 3) % 10] },
  image(1, 2, i),
];

/** 64 instances of 16x16: 64 x 64 MB inside the model, more than a wasm heap can hold. */
const POISON = image(64, 16, 1);
const NEEDS_MEMORY =
  /^model 'upsample' version 1: the input needs more memory than the inference thread has \(.+\); send fewer or smaller instances$/;

describe('A thread poisoned by a fatal engine error (e2e, real threads, real models)', () => {
  let root: string;
  let app: NestExpressApplication | undefined;
  let url: string;

  beforeAll(async () => {
    root = await makeRepository({
      iris: copyShipped('iris/2'),
      linear: copyShipped('linear/1'),
      gather: gatherOnnx,
      upsample: upsampleLayers,
    });
  });
  afterAll(() => removeRepository(root));

  const start = async (env: Record<string, string>) => {
    // A replacement thread (ts-node in tests, a loaded machine) may take seconds to be ready:
    // requests queued meanwhile must wait for it, not time out.
    app = await createTestApp({
      MODEL_DIR: root,
      REQUEST_TIMEOUT_MS: '0',
      MAX_INFLIGHT: '0',
      ...env,
    });
    url = await listenOnLoopback(app);
  };
  afterEach(async () => {
    await closeApp(app);
    app = undefined;
  });

  const ready = async () => (await fetch(`${url}/health/ready`)).status;
  /** Threads started so far to replace one that died or was retired. */
  const replacements = async () =>
    metricValue(
      await (await fetch(`${url}/metrics`)).text(),
      'inference_thread_replacements_total',
    );

  it.each([2, 1])(
    'with %i thread(s): should answer 507 naming the model, replace the thread, and answer every model exactly afterwards',
    async (threads) => {
      await start({ INFERENCE_THREADS: String(threads) });
      const pool = app!.get(InferencePool);
      const calls = Array.from({ length: 20 }, (_, i) => everyModel(i)).flat();
      const expected: Answer[] = [];
      for (const call of calls) expected.push(await infer(url, call));
      expect(expected.every((a) => a.status === 200)).toBe(true);
      // The upsampling model answers its input: the reference answers are right, not just stable.
      const upsampled = expected.filter((_, i) => calls[i].model === 'upsample');
      upsampled.forEach((a, i) => expect(a.body.outputs![0].data).toEqual(image(1, 2, i).data));

      const poison = await infer(url, POISON);
      expect(poison.status).toBe(507);
      expect(poison.body.error).toMatch(NEEDS_MEMORY);
      // The thread is out of service before its client hears of the error, so readiness does
      // not lie: with one thread nothing serves until the replacement has reloaded every model.
      expect(pool.snapshot().filter((t) => t.ready)).toHaveLength(threads - 1);
      expect(app!.get(ModelService).isReady()).toBe(threads > 1);

      // Sent at once, while the replacement starts: queued or served by the healthy thread.
      for (let round = 0; round < 2; round++) {
        const answers = await Promise.all([...calls, ...calls].map((call) => infer(url, call)));
        answers.forEach((answer, i) => {
          expect(answer.status).toBe(200);
          expect(answer.body.outputs).toEqual(expected[i % calls.length].body.outputs);
        });
        if (round === 0) await waitFor(() => pool.snapshot().every((t) => t.ready), 60_000);
      }
      expect(await ready()).toBe(200);
      expect(await replacements()).toBe(1);
    },
    180_000,
  );

  it('should retry the requests merged with a poisoning one, so only that one fails', async () => {
    // One thread, and a batch that is due exactly when all 67 rows are queued (64 + 3).
    await start({ INFERENCE_THREADS: '1', BATCH_MAX_SIZE: '67', BATCH_TIMEOUT_MS: '10000' });
    const pool = app!.get(InferencePool);
    const good = [11, 22, 33].map((seed) => image(1, 16, seed));
    const [poison, ...answers] = await Promise.all([POISON, ...good].map((c) => infer(url, c)));
    expect(poison.status).toBe(507);
    expect(poison.body.error).toMatch(NEEDS_MEMORY);
    answers.forEach((answer, i) => {
      expect(answer.status).toBe(200);
      expect(answer.body.outputs![0].data).toEqual(good[i].data);
    });
    const metrics = await (await fetch(`${url}/metrics`)).text();
    const labels = { model: 'upsample', version: '1' };
    // The merged batch of 67 rows, then each of its 4 requests alone.
    expect(metricValue(metrics, 'model_batch_rows_count', labels)).toBe(5);
    expect(metricValue(metrics, 'model_batch_rows_sum', labels)).toBe(2 * 67);
    // Once for the merged batch, once for the poisoning request run alone.
    await waitFor(
      async () => (await replacements()) === 2 && pool.snapshot().every((t) => t.ready),
      60_000,
    );
    expect(await ready()).toBe(200);
  }, 180_000);

  it('should replace a thread whose warm-up of a new version trapped, and keep serving the others exactly', async () => {
    await start({ INFERENCE_THREADS: '1' });
    const models = app!.get(ModelService);
    const calls = Array.from({ length: 10 }, (_, i) => everyModel(i)).flat();
    const expected: Answer[] = [];
    for (const call of calls) expected.push(await infer(url, call));
    await hugeUpsampleLayers(join(root, 'huge', '1'));
    try {
      await models.reload(); // one hot-reload pass, driven here instead of by the poll timer
      const [status] = models.statusOf('huge');
      expect(status.state).toBe('END');
      expect(status.error).toMatch(/wasm heap cannot allocate 4294967296 bytes/);
      await waitFor(async () => (await replacements()) === 1 && models.isReady(), 60_000);
      const answers = await Promise.all(calls.map((call) => infer(url, call)));
      answers.forEach((answer, i) => {
        expect(answer.status).toBe(200);
        expect(answer.body.outputs).toEqual(expected[i].body.outputs);
      });
    } finally {
      rmSync(join(root, 'huge'), { recursive: true, force: true });
    }
  }, 180_000);
});
