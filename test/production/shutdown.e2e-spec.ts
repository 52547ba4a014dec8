import { metricValue, IRIS_BODY, partialRequest, waitFor } from './utils/http';
import { getFresh, RunningServer, runServer } from './utils/server';
import { cpSync } from 'node:fs';
import { join } from 'node:path';
import { makeRepository, removeRepository, SLOW_WIDTH, slowGraph } from '../utils/fixtures';

/**
 * Graceful shutdown of the production entry (`node dist/main.js`). The slow request is a real
 * request whose body is held back by the client: the server has it in flight, with no test-only
 * code in the server.
 */
describe('Graceful shutdown (node dist/main.js)', () => {
  let server: RunningServer | undefined;
  afterEach(() => server?.stop());

  const inflight = async (s: RunningServer, n: number) =>
    waitFor(
      async () =>
        metricValue((await getFresh(`${s.url}/metrics`)).body, 'http_requests_in_flight') === n,
    );

  it('should drain on SIGTERM: readiness 503 at once, in-flight request answered 200, new connections refused, exit 0', async () => {
    server = await runServer({ SHUTDOWN_DELAY_MS: '1500', SHUTDOWN_TIMEOUT_MS: '10000' });
    const s = server;
    expect((await getFresh(`${s.url}/health/ready`)).status).toBe(200);
    const slow = partialRequest(s.url, '/predict', IRIS_BODY);
    await inflight(s, 1);

    s.child.kill('SIGTERM');
    await waitFor(async () => (await getFresh(`${s.url}/health/ready`)).status === 503, 1000);
    expect((await getFresh(`${s.url}/health/live`)).status).toBe(200);
    // After SHUTDOWN_DELAY_MS the listener closes; the slow request keeps the process alive.
    await waitFor(
      () =>
        getFresh(`${s.url}/health/live`).then(
          () => false,
          () => true,
        ),
      5000,
    );
    expect(s.child.exitCode).toBeNull();

    const res = await slow.finish();
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body).predictions[0].label).toBe('setosa');
    expect(await s.exit).toEqual({ code: 0, signal: null });
    expect(s.output()).toMatch(/Shutdown complete/);
  });

  it('should exit 0 at once on SIGINT with nothing in flight (no delay by default)', async () => {
    server = await runServer();
    const started = Date.now();
    server.child.kill('SIGINT');
    expect(await server.exit).toEqual({ code: 0, signal: null });
    expect(Date.now() - started).toBeLessThan(3000);
  });

  it('should cut requests still in flight after SHUTDOWN_TIMEOUT_MS and exit 0', async () => {
    server = await runServer({ SHUTDOWN_TIMEOUT_MS: '500' });
    const s = server;
    const stuck = partialRequest(s.url, '/predict', IRIS_BODY);
    await inflight(s, 1);
    const started = Date.now();
    s.child.kill('SIGTERM');
    expect(await s.exit).toEqual({ code: 0, signal: null });
    expect(Date.now() - started).toBeGreaterThanOrEqual(450);
    expect(Date.now() - started).toBeLessThan(5000);
    await expect(stuck.response).rejects.toThrow();
    expect(s.output()).toMatch(/1 request\(s\) still in flight after SHUTDOWN_TIMEOUT_MS=500/);
  });

  it('should exit at once on a second signal, with 128 + signal number', async () => {
    server = await runServer({ SHUTDOWN_TIMEOUT_MS: '30000' });
    const s = server;
    partialRequest(s.url, '/predict', IRIS_BODY);
    await inflight(s, 1);
    s.child.kill('SIGTERM');
    await waitFor(() => /Draining/.test(s.output()), 3000);
    const started = Date.now();
    s.child.kill('SIGTERM');
    expect(await s.exit).toEqual({ code: 143, signal: null });
    expect(Date.now() - started).toBeLessThan(2000);
  });

  describe('under load', () => {
    let root: string;
    beforeAll(async () => {
      root = await makeRepository({ slow: slowGraph() });
    });
    afterAll(() => removeRepository(root));

    it('should answer every request that reached the server before SIGTERM: running, queued and still uploading', async () => {
      // SHUTDOWN_DELAY_MS keeps the listener open a moment, so the 503 readiness is observable
      // (without it a probe after the signal may find the port already closed).
      server = await runServer({
        MODEL_DIR: root,
        INFERENCE_THREADS: '2',
        SHUTDOWN_DELAY_MS: '1000',
      });
      const s = server;
      const rows = (v: number) => Array.from({ length: 200 }, () => new Array(SLOW_WIDTH).fill(v));
      const body = (v: number) =>
        JSON.stringify({
          inputs: [{ name: 'x', shape: [200, SLOW_WIDTH], datatype: 'FP32', data: rows(v).flat() }],
        });
      // Twelve requests of about half a second of inference each: two run, ten queue.
      const bodies = Array.from({ length: 13 }, (_, v) => body(v));
      const sent = bodies
        .slice(0, 12)
        .map((b) => partialRequest(s.url, '/v2/models/slow/infer', b, b.length));
      const uploading = partialRequest(s.url, '/v2/models/slow/infer', bodies[12]);
      await inflight(s, 13);
      s.child.kill('SIGTERM');
      await waitFor(async () => (await getFresh(`${s.url}/health/ready`)).status === 503, 1000);
      const answers = await Promise.all([
        ...sent.map((request) => request.finish()),
        uploading.finish(),
      ]);
      answers.forEach((res, v) => {
        expect(res.status).toBe(200);
        expect(JSON.parse(res.body).outputs[0].data[0]).toBe(v * SLOW_WIDTH);
      });
      expect(await s.exit).toEqual({ code: 0, signal: null });
      expect(s.output()).toMatch(
        /Draining: readiness is 503, \d+ request\(s\) in flight[\s\S]*Shutdown complete/,
      );
    }, 30_000);

    it('should exit 0 on SIGTERM while ONNX Runtime still runs a batch whose request already timed out', async () => {
      // The benchmark CNN as ONNX: 600 images take ~0.6 s in one thread, the request gives up
      // after 0.25 s (its 29 MB upload takes a fraction of that).
      // Ending the threads mid-run used to abort the process (exit 134) from ONNX Runtime's
      // native code; closing now lets each thread finish its batch and free its sessions.
      const dir = join(root, 'cnn', '1');
      cpSync(join(__dirname, '..', 'fixtures', 'cnn', 'cnn-onnx', '1'), dir, { recursive: true });
      server = await runServer({
        MODEL_DIR: root,
        REQUEST_TIMEOUT_MS: '250',
        BODY_LIMIT: '64mb',
        INFERENCE_THREADS: '1',
      });
      const s = server;
      const rows = 600;
      const pixels = Buffer.alloc(rows * 64 * 64 * 3 * 4);
      const header = JSON.stringify({
        inputs: [
          {
            name: 'image',
            shape: [rows, 64, 64, 3],
            datatype: 'FP32',
            parameters: { binary_data_size: pixels.length },
          },
        ],
      });
      const res = await fetch(`${s.url}/v2/models/cnn/infer`, {
        method: 'POST',
        headers: { 'inference-header-content-length': String(Buffer.byteLength(header)) },
        body: Buffer.concat([Buffer.from(header), pixels]),
      });
      expect(res.status).toBe(504);
      s.child.kill('SIGTERM');
      expect(await s.exit).toEqual({ code: 0, signal: null });
      expect(s.output()).toMatch(/Shutdown complete/);
    }, 30_000);
  });
});
