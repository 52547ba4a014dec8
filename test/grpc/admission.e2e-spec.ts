import { status, type Client } from '@grpc/grpc-js';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { LifecycleService } from '../../src/core/lifecycle/lifecycle.service';
import { listenOnLoopback, metricValue, waitFor } from '../production/utils/http';
import { join } from 'node:path';
import {
  copyShipped,
  makeRepository,
  removeRepository,
  SLOW_WIDTH,
  slowGraph,
} from '../utils/fixtures';
import {
  cancellable,
  failure,
  freePort,
  grpcClient,
  inferenceDefinition,
  unary,
} from '../utils/grpc';
import { closeApp, createTestApp } from '../utils/test-app';

/**
 * The admission every gRPC call goes through, shared with HTTP: MAX_INFLIGHT, REQUEST_TIMEOUT_MS,
 * the client's deadline and cancellation. Driven by events (a call admitted, a queue depth), not
 * by the clock: the slow model takes seconds per request, every wait here is milliseconds.
 */

/** `rows` rows of the slow model (each row's answer is SLOW_WIDTH * value), as raw FP32. */
function slowRequest(rows: number, value = 1) {
  const bytes = Buffer.alloc(rows * SLOW_WIDTH * 4);
  for (let i = 0; i < rows * SLOW_WIDTH; i++) bytes.writeFloatLE(value, i * 4);
  return {
    model_name: 'slow',
    inputs: [{ name: 'x', datatype: 'FP32', shape: [rows, SLOW_WIDTH] }],
    raw_input_contents: [bytes],
  };
}

const IRIS = {
  model_name: 'iris',
  inputs: [{ name: 'features', datatype: 'FP32', shape: [1, 4] }],
  raw_input_contents: [Buffer.from(new Float32Array([5.1, 3.5, 1.4, 0.2]).buffer)],
};

interface InferAnswer {
  raw_output_contents: Buffer[];
}

describe('gRPC admission (MAX_INFLIGHT, REQUEST_TIMEOUT_MS, deadlines, cancellation)', () => {
  let root: string;
  let app: NestExpressApplication | undefined;
  let client: Client | undefined;
  let url = '';

  beforeAll(async () => {
    root = await makeRepository({
      'slow/1': slowGraph(),
      'iris/2': copyShipped(join('iris', '2')),
    });
  });
  afterEach(async () => {
    client?.close();
    await closeApp(app);
    app = undefined;
  });
  afterAll(() => removeRepository(root));

  const start = async (env: Record<string, string>) => {
    const port = await freePort();
    app = await createTestApp({
      MODEL_DIR: root,
      INFERENCE_THREADS: '1',
      GRPC_PORT: String(port),
      ...env,
    });
    client = grpcClient(inferenceDefinition(), 'inference.GRPCInferenceService', port);
    url = await listenOnLoopback(app);
    return { app, client };
  };
  const metrics = async () => (await fetch(`${url}/metrics`)).text();

  it('should shed past MAX_INFLIGHT with RESOURCE_EXHAUSTED, the slots shared with HTTP', async () => {
    const { app, client } = await start({ MAX_INFLIGHT: '1', REQUEST_TIMEOUT_MS: '0' });
    const lifecycle = app.get(LifecycleService);
    const slow = unary<InferAnswer>(client, 'ModelInfer', slowRequest(400, 2));
    await waitFor(() => lifecycle.admitted === 1, 20_000);
    const shed = await failure(unary(client, 'ModelInfer', IRIS));
    expect(shed.code).toBe(status.RESOURCE_EXHAUSTED);
    expect(shed.details).toBe(
      'Server busy: 1 requests already in flight (MAX_INFLIGHT); retry after 1 s',
    );
    expect(shed.metadata.get('retry-after')).toEqual(['1']);
    // The same slot refuses HTTP too: one MAX_INFLIGHT for both listeners.
    const http = await fetch(`${url}/v2/models/iris/infer`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        inputs: [{ name: 'features', shape: [1, 4], datatype: 'FP32', data: [5.1, 3.5, 1.4, 0.2] }],
      }),
    });
    expect(http.status).toBe(503);
    const answer = await slow;
    expect(answer.raw_output_contents[0].readFloatLE(0)).toBe(2 * SLOW_WIDTH);
    expect(lifecycle.admitted).toBe(0);
    const text = await metrics();
    expect(
      metricValue(text, 'grpc_requests_total', {
        method: 'inference.GRPCInferenceService/ModelInfer',
        code: 'RESOURCE_EXHAUSTED',
      }),
    ).toBe(1);
  }, 90_000);

  it('should answer DEADLINE_EXCEEDED at REQUEST_TIMEOUT_MS while the inference still runs', async () => {
    const { client } = await start({ REQUEST_TIMEOUT_MS: '300', MAX_INFLIGHT: '0' });
    const error = await failure(unary(client, 'ModelInfer', slowRequest(600)));
    expect(error.code).toBe(status.DEADLINE_EXCEEDED);
    expect(error.details).toBe(
      'Request not answered within 300 ms (REQUEST_TIMEOUT_MS), time in the queue included',
    );
    // Answered while the run still goes on: no inference of the model has ended yet.
    expect(
      metricValue(await metrics(), 'model_inference_duration_seconds_count', { model: 'slow' }),
    ).toBeUndefined();
  }, 90_000);

  it("should drop queued calls from the queue at the client's deadline and when cancelled", async () => {
    const { client } = await start({
      REQUEST_TIMEOUT_MS: '0',
      MAX_INFLIGHT: '0',
      // One request per batch: the others can only wait in the queue.
      BATCH_MAX_SIZE: '3000',
      MAX_BATCH: '3000',
    });
    const scrape = async (name: string) =>
      metricValue(await metrics(), name, { model: 'slow', version: '1' }) ?? 0;
    // About 15 s in the thread on a quiet machine (longer on a busy one), against the 1 s
    // deadline below: every step before it is an event that comes within milliseconds, and a
    // scrape on a loaded machine can take a second.
    const running = unary<InferAnswer>(client, 'ModelInfer', slowRequest(3000, 3));
    let runningDone = false;
    void running.finally(() => (runningDone = true));
    await waitFor(async () => (await scrape('model_batch_rows_count')) === 1, 60_000);
    const cancelled = cancellable(client, 'ModelInfer', slowRequest(1000));
    await waitFor(async () => (await scrape('model_queue_depth')) === 1, 60_000);
    cancelled.call.cancel();
    expect((await cancelled.result)?.code).toBe(status.CANCELLED);
    await waitFor(async () => (await scrape('model_queue_depth')) === 0, 60_000);
    const late = await failure(
      unary(client, 'ModelInfer', slowRequest(1000), { deadline: Date.now() + 1000 }),
    );
    expect(late.code).toBe(status.DEADLINE_EXCEEDED);
    await waitFor(async () => (await scrape('model_queue_depth')) === 0, 60_000);
    // Both left the queue while the first request still ran: neither will ever run.
    expect(runningDone).toBe(false);
    const answer = await running;
    expect(answer.raw_output_contents[0].readFloatLE(0)).toBe(3 * SLOW_WIDTH);
    expect(await scrape('model_batch_rows_count')).toBe(1);
    // Each call is counted once its handler settles, with the model it named.
    const counted = async (code: string) =>
      metricValue(await metrics(), 'grpc_requests_total', {
        method: 'inference.GRPCInferenceService/ModelInfer',
        model: 'slow',
        code,
      });
    // The cancelled call had no deadline: CANCELLED. The late one is CANCELLED or
    // DEADLINE_EXCEEDED by which reaches the server first, its client's reset or its own timer
    // (how a reset is counted is exact in src/edge/grpc/grpc-calls.spec.ts, with a fake clock).
    await waitFor(async () => (await counted('OK')) === 1, 20_000);
    await waitFor(async () => {
      const cancelled = (await counted('CANCELLED')) ?? 0;
      const late = (await counted('DEADLINE_EXCEEDED')) ?? 0;
      return cancelled >= 1 && cancelled + late === 2;
    }, 20_000);
  }, 240_000);

  it('should refuse a message larger than BODY_LIMIT with RESOURCE_EXHAUSTED, and serve on', async () => {
    const { client } = await start({ BODY_LIMIT: '4kb' });
    const rows = 4; // 4 x 512 floats: 8 kB of raw contents
    const error = await failure(unary(client, 'ModelInfer', slowRequest(rows)));
    expect(error.code).toBe(status.RESOURCE_EXHAUSTED);
    expect(error.details).toMatch(/larger than max \(\d+ vs 4096\)/);
    const answer = await unary<InferAnswer>(client, 'ModelInfer', slowRequest(1, 2));
    expect(answer.raw_output_contents[0].readFloatLE(0)).toBe(2 * SLOW_WIDTH);
  }, 90_000);
});
