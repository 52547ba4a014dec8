import { execFileSync } from 'node:child_process';
import request from 'supertest';
import { metricValue, partialRequest } from './production/utils/http';
import { freePort, getFresh } from './production/utils/server';
import { corruptModelJson, makeRepository, removeRepository } from './utils/fixtures';
import { runUntilExit, startServer, waitForListening } from './utils/server-process';
import { SHIPPED_MODELS } from './utils/test-app';

const workerPids = (primary: number) =>
  execFileSync('ps', ['--ppid', String(primary), '-o', 'pid='], { encoding: 'utf8' })
    .split('\n')
    .map((line) => Number(line.trim()))
    .filter((pid) => pid > 0);

const exitOf = (child: ReturnType<typeof startServer>) =>
  new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));

jest.setTimeout(60_000);

describe('WORKERS > 1: several server processes on one port (node dist/main.js)', () => {
  it('should open the port once every worker is ready, serve from all of them, replace a dead one, and drain on SIGTERM', async () => {
    const child = startServer({ MODEL_DIR: SHIPPED_MODELS, WORKERS: '2', SHUTDOWN_DELAY_MS: '0' });
    const exited = exitOf(child);
    let output = '';
    child.stdout!.on('data', (chunk) => (output += chunk));
    try {
      const url = await waitForListening(child);
      const workers = workerPids(child.pid!);
      expect(workers).toHaveLength(2);
      for (let i = 0; i < 20; i++) {
        await request(url)
          .post('/predict')
          .send({ model: 'linear', instances: [[1]] })
          .expect(200);
      }

      process.kill(workers[0], 'SIGKILL');
      const replacement = () => workerPids(child.pid!).find((pid) => !workers.includes(pid));
      let deadline = Date.now() + 30_000;
      while (Date.now() < deadline && !output.includes(`Worker ${workers[0]} died`)) {
        await new Promise((r) => setTimeout(r, 50));
      }
      // While the replacement loads its models, scrapes answer without waiting for it.
      const scrape = await request(url).get('/metrics').expect(200);
      expect(scrape.text).toMatch(/^http_requests_total\{/m);
      deadline = Date.now() + 30_000;
      while (Date.now() < deadline && !output.includes(`Worker ${replacement()} ready`)) {
        await new Promise((r) => setTimeout(r, 200));
      }
      expect(output).toMatch(new RegExp(`Worker ${workers[0]} died`));
      expect(output).toContain(`Worker ${replacement()} ready`);
      expect(workerPids(child.pid!)).toHaveLength(2);
      await request(url)
        .post('/predict')
        .send({ model: 'linear', instances: [[1]] })
        .expect(200);
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
  });

  it('should answer /metrics for every worker together (on ADMIN_PORT), so counters never go down', async () => {
    const adminPort = await freePort();
    const admin = `http://127.0.0.1:${adminPort}`;
    const child = startServer({
      MODEL_DIR: SHIPPED_MODELS,
      WORKERS: '2',
      ADMIN_PORT: String(adminPort),
      SHUTDOWN_DELAY_MS: '0',
    });
    const exited = exitOf(child);
    // Fresh connections, which the cluster hands to its workers in turn: a scrape answered by
    // one worker alone would count about half of the requests.
    const predict = async () => {
      const { finish } = partialRequest(
        url,
        '/predict',
        JSON.stringify({ model: 'linear', instances: [[1]] }),
      );
      expect((await finish()).status).toBe(200);
    };
    const scrape = async () => {
      const res = await getFresh(`${admin}/metrics`, 10_000);
      expect(res.status).toBe(200);
      return res.body;
    };
    const predicted = { route: '/predict', model: 'linear', version: '1', status: '200' };
    let url = '';
    try {
      url = await waitForListening(child);
      const counts: number[] = [];
      let done = 0;
      for (const sent of [20, 30]) {
        for (; done < sent; done++) await predict();
        for (let scrapes = 0; scrapes < 4; scrapes++) {
          const text = await scrape();
          counts.push(metricValue(text, 'http_requests_total', predicted) ?? 0);
          expect(
            metricValue(text, 'model_inference_total', { model: 'linear', outcome: 'ok' }),
          ).toBe(sent);
          // Gauges about models: every worker holds the same six versions, not twelve.
          expect(metricValue(text, 'models_loaded', { state: 'AVAILABLE' })).toBe(6);
          expect(
            metricValue(text, 'inference_thread_busy_ratio', { thread: '0' }),
          ).toBeLessThanOrEqual(1);
          expect(
            metricValue(text, 'model_load_duration_seconds', { model: 'linear', version: '1' }),
          ).toBeGreaterThan(0);
        }
      }
      expect(counts).toEqual([20, 20, 20, 20, 30, 30, 30, 30]);
      // The public port still refuses it, as with a single process.
      expect((await getFresh(`${url}/metrics`)).status).toBe(404);
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
  });

  it('should exit 1 when a worker cannot load its models', async () => {
    const repo = await makeRepository({ 'broken/1': corruptModelJson });
    try {
      const result = await runUntilExit({ MODEL_DIR: repo, WORKERS: '2' });
      expect(result.code).toBe(1);
      expect(result.output).toMatch(/model.json is not valid JSON/);
      expect(result.output).toMatch(/failed during startup/);
      expect(result.output).not.toMatch(/Listening on/);
    } finally {
      removeRepository(repo);
    }
  });

  it('should refuse an invalid WORKERS value before starting anything', async () => {
    const result = await runUntilExit({ MODEL_DIR: SHIPPED_MODELS, WORKERS: '0' });
    expect(result.code).toBe(1);
    expect(result.output).toMatch(/WORKERS must not be less than 1/);
  });
});
