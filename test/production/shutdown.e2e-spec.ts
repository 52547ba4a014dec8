import { metricValue, IRIS_BODY, partialRequest, waitFor } from './utils/http';
import { getFresh, RunningServer, runServer } from './utils/server';
import { SHIPPED_MODELS } from '../utils/test-app';
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

  const inflight = async (s: RunningServer, n: number, timeoutMs = 5000) =>
    waitFor(
      async () =>
        metricValue((await getFresh(`${s.url}/metrics`)).body, 'http_requests_in_flight') === n,
      timeoutMs,
    );

  it('should drain on SIGTERM: readiness 503 at once, in-flight request answered 200, new connections refused, exit 0', async () => {
    server = await runServer({ SHUTDOWN_DELAY_MS: '1500', SHUTDOWN_TIMEOUT_MS: '10000' });
    const s = server;
    expect((await getFresh(`${s.url}/health/ready`)).status).toBe(200);
    const slow = partialRequest(s.url, '/predict', IRIS_BODY);
    await inflight(s, 1);

    s.child.kill('SIGTERM');
    await waitFor(async () => (await getFresh(`${s.url}/health/ready`)).status === 503);
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

  it('should skip SHUTDOWN_DELAY_MS on SIGINT (Ctrl-C at a terminal, no load balancer to wait for)', async () => {
    // Ten minutes of delay: only skipping it lets the process exit within the test's timeout.
    server = await runServer({ SHUTDOWN_DELAY_MS: '600000' });
    server.child.kill('SIGINT');
    expect(await server.exit).toEqual({ code: 0, signal: null });
    expect(server.output()).toMatch(
      /Stopped accepting after 0 ms \(SHUTDOWN_DELAY_MS, skipped on SIGINT\)/,
    );
  });

  it('should cut requests still in flight after SHUTDOWN_TIMEOUT_MS and exit 0', async () => {
    server = await runServer({ SHUTDOWN_TIMEOUT_MS: '500', SHUTDOWN_DELAY_MS: '0' });
    const s = server;
    const stuck = partialRequest(s.url, '/predict', IRIS_BODY);
    await inflight(s, 1);
    const started = Date.now();
    s.child.kill('SIGTERM');
    expect(await s.exit).toEqual({ code: 0, signal: null });
    // It waited SHUTDOWN_TIMEOUT_MS for the stuck request before cutting it.
    expect(Date.now() - started).toBeGreaterThanOrEqual(450);
    await expect(stuck.response).rejects.toThrow();
    expect(s.output()).toMatch(/1 request\(s\) still in flight after SHUTDOWN_TIMEOUT_MS=500/);
    expect(s.output()).toMatch(
      /Drain summary: 0 request\(s\) answered, 0 refused \(503\), 0 closed by their client, 1 cut/,
    );
  });

  it('should exit at once on a second signal, with 128 + signal number', async () => {
    server = await runServer({ SHUTDOWN_TIMEOUT_MS: '30000' });
    const s = server;
    partialRequest(s.url, '/predict', IRIS_BODY);
    await inflight(s, 1);
    s.child.kill('SIGTERM');
    await waitFor(() => /Draining/.test(s.output()));
    s.child.kill('SIGTERM');
    // 143 only comes from the immediate exit: the drain would wait for the stuck request, then exit 0.
    expect(await s.exit).toEqual({ code: 143, signal: null });
  });

  it('should count model requests answered and refused while draining in /metrics', async () => {
    // A long delay keeps /metrics reachable; a second signal ends the test's server at once.
    // The one MAX_INFLIGHT slot is held by a request whose body has arrived (an upload in
    // progress takes none): alone, it waits BATCH_TIMEOUT_MS for a fuller batch.
    server = await runServer({
      SHUTDOWN_DELAY_MS: '600000',
      MAX_INFLIGHT: '1',
      BATCH_TIMEOUT_MS: '10000',
    });
    const s = server;
    const held = fetch(`${s.url}/predict`, { method: 'POST', body: IRIS_BODY });
    await waitFor(
      async () =>
        metricValue((await getFresh(`${s.url}/metrics`)).body, 'http_requests_admitted') === 1,
    );
    s.child.kill('SIGTERM');
    await waitFor(async () => (await getFresh(`${s.url}/health/ready`)).status === 503);
    const shed = await fetch(`${s.url}/predict`, { method: 'POST', body: IRIS_BODY });
    expect(shed.status).toBe(503);
    expect((await held).status).toBe(200);
    const drained = async (outcome: string) =>
      metricValue((await getFresh(`${s.url}/metrics`)).body, 'http_drained_requests_total', {
        outcome,
      });
    await waitFor(async () => (await drained('answered')) === 1);
    expect(await drained('refused')).toBe(1);
    expect(await drained('client_closed')).toBe(0);
    expect(await drained('cut')).toBe(0);
  });

  describe('a dozen large uploads (1 to 3.5 MB of JSON each) to a real model', () => {
    // 28x28x1 digit images as V2 FP32 JSON, about 15 kB each.
    const images = Array.from({ length: 12 }, (_, i) => Math.round(68 + (i * (236 - 68)) / 11));
    const bodies = images.map((n) =>
      JSON.stringify({
        inputs: [
          {
            name: 'image',
            shape: [n, 28, 28, 1],
            datatype: 'FP32',
            data: Array.from({ length: n * 784 }, (_, k) => ((k * 7919) % 997) / 997),
          },
        ],
      }),
    );
    const infer = '/v2/models/digits/infer';

    /**
     * Six uploads the server is reading (headers and half of each body sent), then six more sent
     * while the process is stopped, the way a main thread busy parsing other bodies leaves new
     * connections in the kernel's accept queue, unread; the signal arrives before the process
     * runs again. Returns the twelve requests once the server says it is draining, bodies not
     * finished yet (a signal can be handled a few hundred milliseconds after the process resumes,
     * time enough for bodies sent at once to be answered before the drain).
     */
    const uploadsThenSignal = async (s: RunningServer) => {
      const reading = bodies.slice(0, 6).map((body) => partialRequest(s.url, infer, body));
      await inflight(s, 6, 30_000);
      s.child.kill('SIGSTOP');
      // Headers and 64 kB each: small enough for the kernel to hold while nobody reads.
      const queued = bodies.slice(6).map((body) => partialRequest(s.url, infer, body, 65_536));
      await Promise.all(queued.map((request) => request.written));
      s.child.kill('SIGTERM');
      s.child.kill('SIGCONT');
      await waitFor(() => /Draining: readiness is 503/.test(s.output()), 30_000);
      return [...reading, ...queued];
    };

    const expectAllAnswered = (answers: { status: number; body: string }[]) =>
      answers.forEach((res, i) => {
        expect(res.status).toBe(200);
        expect(JSON.parse(res.body).outputs[0].shape).toEqual([images[i], 10]);
      });

    it('should be sized as the issue reproduced it', () => {
      expect(Math.min(...bodies.map((b) => b.length))).toBeGreaterThanOrEqual(1_000_000);
      expect(Math.max(...bodies.map((b) => b.length))).toBeLessThanOrEqual(3_600_000);
    });

    it('should answer every one at default settings, those still in the accept queue included, and answer readiness 503 after the signal', async () => {
      server = await runServer({ MODEL_DIR: SHIPPED_MODELS });
      const s = server;
      const requests = await uploadsThenSignal(s);
      // While the server keeps accepting (SHUTDOWN_DELAY_MS): answered, not reset or refused.
      expect((await getFresh(`${s.url}/health/ready`, 30_000)).status).toBe(503);
      expectAllAnswered(await Promise.all(requests.map((request) => request.finish())));
      expect(await s.exit).toEqual({ code: 0, signal: null });
      expect(s.output()).toMatch(
        /Drain summary: 12 request\(s\) answered, 0 refused \(503\), 0 closed by their client, 0 cut/,
      );
    }, 60_000);

    it('should answer every one with SHUTDOWN_DELAY_MS=0: the connections waiting in the accept queue are taken before the listener closes', async () => {
      server = await runServer({
        MODEL_DIR: SHIPPED_MODELS,
        SHUTDOWN_DELAY_MS: '0',
        SHUTDOWN_TIMEOUT_MS: '60000',
      });
      const s = server;
      const requests = await uploadsThenSignal(s);
      expectAllAnswered(await Promise.all(requests.map((request) => request.finish())));
      expect(await s.exit).toEqual({ code: 0, signal: null });
      expect(s.output()).toMatch(/Stopped accepting after 0 ms/);
      expect(s.output()).toMatch(
        /Drain summary: 12 request\(s\) answered, 0 refused \(503\), 0 closed by their client, 0 cut/,
      );
    }, 60_000);
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
        // Six seconds of inference on a quiet machine, several times that on a loaded one: this
        // test is about answering everything, not about the deadline (tested above).
        SHUTDOWN_TIMEOUT_MS: '120000',
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
      await waitFor(async () => (await getFresh(`${s.url}/health/ready`)).status === 503);
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
    }, 150_000);

    it('should exit 0 on SIGTERM while ONNX Runtime still runs a batch whose client already left', async () => {
      // The benchmark CNN as ONNX: 600 images take ~0.6 s in one thread (longer on a loaded
      // machine). The client leaves once the batch is running, so the drain has no request to
      // wait for and closes the threads while ONNX Runtime is still inside that run.
      // Ending the threads mid-run used to abort the process (exit 134) from ONNX Runtime's
      // native code; closing now lets each thread finish its batch and free its sessions.
      // Events, not a timeout: a REQUEST_TIMEOUT_MS shorter than the run was once also shorter
      // than the 29 MB upload on a busy machine (408 instead of 504).
      const dir = join(root, 'cnn', '1');
      cpSync(join(__dirname, '..', 'fixtures', 'cnn', 'cnn-onnx', '1'), dir, { recursive: true });
      server = await runServer({
        MODEL_DIR: root,
        BODY_LIMIT: '64mb',
        INFERENCE_THREADS: '1',
        SHUTDOWN_DELAY_MS: '0',
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
      const client = new AbortController();
      const answer = fetch(`${s.url}/v2/models/cnn/infer`, {
        method: 'POST',
        headers: { 'inference-header-content-length': String(Buffer.byteLength(header)) },
        body: Buffer.concat([Buffer.from(header), pixels]),
        signal: client.signal,
      }).catch((error: Error) => error.name);
      const batches = async () =>
        metricValue((await getFresh(`${s.url}/metrics`)).body, 'model_batch_rows_count', {
          model: 'cnn',
          version: '1',
        });
      await waitFor(async () => (await batches()) === 1, 20_000);
      client.abort();
      expect(await answer).toBe('AbortError');
      s.child.kill('SIGTERM');
      expect(await s.exit).toEqual({ code: 0, signal: null });
      expect(s.output()).toMatch(/Shutdown complete/);
    }, 60_000);
  });
});
