import { status, type Client, type ClientReadableStream } from '@grpc/grpc-js';
import { join } from 'node:path';
import { getFresh, jsonLines, runServer, type RunningServer } from '../production/utils/server';
import { metricValue, waitFor } from '../production/utils/http';
import {
  copyShipped,
  makeRepository,
  removeRepository,
  SLOW_WIDTH,
  slowGraph,
} from '../utils/fixtures';
import {
  failure,
  freePort,
  grpcClient,
  healthDefinition,
  inferenceDefinition,
  unary,
} from '../utils/grpc';

/**
 * The production entry (`node dist/main.js`) with its gRPC listener: health Watch, the request
 * log, and SIGTERM during a call (NOT_SERVING at once, the call answered, exit 0).
 */
describe('gRPC listener of the production entry (node dist/main.js)', () => {
  let root: string;
  let server: RunningServer | undefined;
  const clients: Client[] = [];

  beforeAll(async () => {
    root = await makeRepository({
      'slow/1': slowGraph(),
      'iris/2': copyShipped(join('iris', '2')),
    });
  });
  afterEach(() => {
    clients.splice(0).forEach((client) => client.close());
    server?.stop();
  });
  afterAll(() => removeRepository(root));

  const start = async (env: Record<string, string> = {}) => {
    const port = await freePort();
    server = await runServer({ MODEL_DIR: root, GRPC_PORT: String(port), ...env });
    const inference = grpcClient(inferenceDefinition(), 'inference.GRPCInferenceService', port);
    const health = grpcClient(healthDefinition(), 'grpc.health.v1.Health', port);
    clients.push(inference, health);
    return { server, port, inference, health };
  };

  it('should say where gRPC listens and log every call as HTTP requests are', async () => {
    const { server, port, inference } = await start();
    expect(server.output()).toContain(
      `gRPC listening on 127.0.0.1:${port} (inference.GRPCInferenceService, tensorflow.serving.PredictionService, tensorflow.serving.ModelService, grpc.health.v1.Health, reflection)`,
    );
    await unary(inference, 'ServerLive', {});
    await failure(unary(inference, 'ModelMetadata', { name: 'nope' }));
    await waitFor(() => jsonLines(server.output()).some((l) => l.code === 'NOT_FOUND'), 20_000);
    const lines = jsonLines(server.output()).filter((line) => line.protocol === 'grpc');
    expect(lines).toEqual([
      expect.objectContaining({
        level: 30,
        method: 'inference.GRPCInferenceService/ServerLive',
        code: 'OK',
        msg: 'request completed',
        reqId: expect.any(String),
        durationMs: expect.any(Number),
      }),
      expect.objectContaining({
        level: 30,
        method: 'inference.GRPCInferenceService/ModelMetadata',
        code: 'NOT_FOUND',
      }),
    ]);
  }, 90_000);

  it('should turn health NOT_SERVING on SIGTERM, answer the call in flight, refuse new connections and exit 0', async () => {
    const { server, port, inference, health } = await start({
      SHUTDOWN_DELAY_MS: '0',
      INFERENCE_THREADS: '1',
    });
    const statuses: string[] = [];
    const watch = (
      health as unknown as {
        Watch: (request: object) => ClientReadableStream<{ status: string }>;
      }
    ).Watch({ service: 'inference.GRPCInferenceService' });
    watch.on('data', (answer) => statuses.push(answer.status));
    watch.on('error', () => undefined);
    await waitFor(() => statuses.includes('SERVING'), 20_000);

    // About 3 s in the thread on a quiet machine: the drain must wait for it.
    const rows = 600;
    const bytes = Buffer.alloc(rows * SLOW_WIDTH * 4);
    for (let i = 0; i < rows * SLOW_WIDTH; i++) bytes.writeFloatLE(2, i * 4);
    const call = unary<{ raw_output_contents: Buffer[] }>(inference, 'ModelInfer', {
      model_name: 'slow',
      inputs: [{ name: 'x', datatype: 'FP32', shape: [rows, SLOW_WIDTH] }],
      raw_input_contents: [bytes],
    });
    // Awaited below; caught here too so that a failed step does not leave it unhandled.
    call.catch(() => undefined);
    const running = async () =>
      metricValue((await getFresh(`${server.url}/metrics`)).body, 'model_batch_rows_count', {
        model: 'slow',
        version: '1',
      });
    await waitFor(async () => (await running()) === 1, 30_000);

    server.child.kill('SIGTERM');
    await waitFor(() => statuses.includes('NOT_SERVING'), 20_000);
    expect(statuses).toEqual(['SERVING', 'NOT_SERVING']);
    // A new client cannot connect any more (refused while draining, or gone once exited).
    const late = grpcClient(inferenceDefinition(), 'inference.GRPCInferenceService', port);
    clients.push(late);
    await waitFor(() => /Stopped accepting/.test(server.output()), 20_000);
    expect((await failure(unary(late, 'ServerLive', {}))).code).toBe(status.UNAVAILABLE);

    const answer = await call;
    expect(answer.raw_output_contents[0].readFloatLE(0)).toBe(2 * SLOW_WIDTH);
    expect(await server.exit).toEqual({ code: 0, signal: null });
    expect(server.output()).toMatch(/Shutdown complete/);
    expect(server.output()).not.toMatch(/gRPC calls still in flight/);
  }, 120_000);
});
