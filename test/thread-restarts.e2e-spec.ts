import { Logger } from '@nestjs/common';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { InferencePool } from '../src/core/inference/inference-pool';
import { listenOnLoopback, metricValue, waitFor } from './production/utils/http';
import { copyShipped, makeRepository, removeRepository } from './utils/fixtures';
import { killInferenceThread } from './utils/inference-threads';
import { closeApp, createTestApp } from './utils/test-app';

interface Answer {
  status: number;
  body: { outputs?: { data: number[] }[]; error?: string };
}

const IRIS = { name: 'features', shape: [1, 4], datatype: 'FP32', data: [5.1, 3.5, 1.4, 0.2] };
const X = { name: 'x', shape: [1, 1], datatype: 'FP32', data: [3] };

describe('Restarts of inference threads that cannot boot (e2e, real threads, real models)', () => {
  let root: string;
  let app: NestExpressApplication | undefined;
  let url: string;

  beforeEach(async () => {
    root = await makeRepository({
      'iris/2': copyShipped('iris/2'),
      'linear/1': copyShipped('linear/1'),
      'doomed/1': copyShipped('linear/1'),
    });
  });
  afterEach(async () => {
    jest.restoreAllMocks();
    await closeApp(app);
    app = undefined;
    removeRepository(root);
  });

  const infer = async (model: string, input: object): Promise<Answer> => {
    const res = await fetch(`${url}/v2/models/${model}/infer`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ inputs: [input] }),
    });
    return { status: res.status, body: (await res.json()) as Answer['body'] };
  };
  const metric = async (name: string, labels: Record<string, string> = {}) =>
    metricValue(await (await fetch(`${url}/metrics`)).text(), name, labels);
  const failedVersions = async () =>
    ((await (await fetch(`${url}/models`)).json()) as { failed?: object[] }).failed ?? [];

  it.each([1, 2])(
    'with %i thread(s): should report a version whose folder was deleted failed after 3 failed replacements, and serve the others again',
    async (threads) => {
      // REQUEST_TIMEOUT_MS=0: the requests queued while the replacements fail must be answered
      // by the restart policy, not by a deadline.
      app = await createTestApp({
        MODEL_DIR: root,
        INFERENCE_THREADS: String(threads),
        REQUEST_TIMEOUT_MS: '0',
      });
      url = await listenOnLoopback(app);
      const pool = app.get(InferencePool);
      const before = [await infer('iris', IRIS), await infer('linear', X)];
      expect((await infer('doomed', X)).status).toBe(200);
      const errors = jest.spyOn(Logger.prototype, 'error');
      const warnings = jest.spyOn(Logger.prototype, 'warn');

      rmSync(join(root, 'doomed'), { recursive: true });
      await killInferenceThread(pool, 0);
      // Sent while thread 0 is being replaced: with one thread both wait in their queue.
      const waiting = [infer('iris', IRIS), infer('doomed', X)];

      await waitFor(async () => (await failedVersions()).length > 0, 120_000);
      expect(await failedVersions()).toEqual([
        {
          name: 'doomed',
          version: 1,
          error: expect.stringMatching(
            /^failed to load 'doomed' version 1: doomed\/1 again in a replacement inference thread: .*doomed\/1/,
          ) as string,
        },
      ]);
      expect(await metric('model_load_failed', { model: 'doomed', version: '1' })).toBe(1);
      await waitFor(() => pool.snapshot().every((t) => t.state === 'idle'), 60_000);
      expect((await fetch(`${url}/health/ready`)).status).toBe(200);

      // The death, two failed attempts after it, and one more start without the version: bounded.
      expect(await metric('inference_thread_replacements_total')).toBe(4);
      expect(await metric('inference_threads', { state: 'idle' })).toBe(threads);
      const capped = errors.mock.calls.filter(([m]) => /could not load doomed\/1/.test(String(m)));
      expect(capped).toHaveLength(1);
      expect(String(capped[0][0])).toMatch(/3 time\(s\) in a row/);
      const retried = warnings.mock.calls.filter(([m]) => /next attempt in/.test(String(m)));
      expect(retried.map(([m]) => String(m).match(/next attempt in (\d+) ms/)![1])).toEqual([
        '1000',
        '2000',
      ]);

      const [queuedIris, queuedDoomed] = await Promise.all(waiting);
      expect(queuedIris.status).toBe(200);
      expect(queuedIris.body.outputs).toEqual(before[0].body.outputs);
      // With two threads the other thread ran it before the version was dropped.
      if (threads === 1) {
        expect(queuedDoomed.status).toBe(503);
        expect(queuedDoomed.body.error).toMatch(/doomed\/1 .* it is not served$/);
      } else expect(queuedDoomed.status).toBe(200);
      for (const [i, answer] of [await infer('iris', IRIS), await infer('linear', X)].entries()) {
        expect(answer.status).toBe(200);
        expect(answer.body.outputs).toEqual(before[i].body.outputs);
      }
      expect((await infer('doomed', X)).status).toBe(404);
      // Serving again resets nothing it should not: no thread was started since.
      expect(await metric('inference_thread_replacements_total')).toBe(4);
    },
    240_000,
  );
});
