import type { NestExpressApplication } from '@nestjs/platform-express';
import { listenOnLoopback, metricValue } from './production/utils/http';
import { gatherOnnx, GATHER_ROWS, makeRepository, removeRepository } from './utils/fixtures';
import { closeApp, createTestApp } from './utils/test-app';

interface Answer {
  status: number;
  body: { outputs?: { data: number[]; shape: number[] }[]; error?: string };
}

async function lookup(url: string, index: number): Promise<Answer> {
  const res = await fetch(`${url}/v2/models/gather/infer`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      inputs: [{ name: 'index', shape: [1], datatype: 'INT32', data: [index] }],
    }),
  });
  return { status: res.status, body: (await res.json()) as Answer['body'] };
}

const row = (i: number) => [10 * i, 10 * i + 1, 10 * i + 2];

describe('A bad request merged with good ones (e2e, real threads, ONNX Runtime)', () => {
  let root: string;
  let app: NestExpressApplication | undefined;
  let url: string;

  beforeAll(async () => {
    root = await makeRepository({ gather: gatherOnnx });
    // One thread, and a batch that is due exactly when its 11th row is queued: the merge does
    // not depend on timing (BATCH_TIMEOUT_MS only bounds the wait if a request never came).
    app = await createTestApp({
      MODEL_DIR: root,
      INFERENCE_THREADS: '1',
      BATCH_MAX_SIZE: '11',
      BATCH_TIMEOUT_MS: '10000',
      REQUEST_TIMEOUT_MS: '0',
    });
    url = await listenOnLoopback(app);
  });
  afterAll(async () => {
    await closeApp(app);
    removeRepository(root);
  });

  it("should fail only the bad request, with 400 and ONNX Runtime's reason, and answer the 10 others exactly", async () => {
    const indices = [0, 1, 2, 3, 4, 50, 5, 6, 7, 8, 9];
    const answers = await Promise.all(indices.map((index) => lookup(url, index)));
    answers.forEach((answer, i) => {
      if (indices[i] < GATHER_ROWS) {
        expect(answer).toEqual({ status: 200, body: expect.anything() });
        expect(answer.body.outputs![0]).toMatchObject({ shape: [1, 3], data: row(indices[i]) });
      }
    });
    const bad = answers[indices.indexOf(50)];
    expect(bad.status).toBe(400);
    expect(bad.body.error).toMatch(
      /^model 'gather' version 1 cannot run on input 'index': .*indices element out of data bounds, idx=50/,
    );
    const metrics = await (await fetch(`${url}/metrics`)).text();
    const labels = { model: 'gather', version: '1' };
    // One merged batch of 11 rows, then each request alone: 12 batches, 22 rows.
    expect(metricValue(metrics, 'model_batch_rows_count', labels)).toBe(12);
    expect(metricValue(metrics, 'model_batch_rows_sum', labels)).toBe(22);
  }, 60_000);
});
