/**
 * npm run bench: starts the built server (node dist/main.js) on loopback and drives
 * POST /predict on every shipped model with autocannon, bounded in time. Next to each result it
 * prints what one load of that model costs: the price a server that loads per request would add
 * to every call.
 *
 * When /usr/bin/python3 has fastapi, uvicorn and scikit-learn (Debian: python3-fastapi
 * python3-uvicorn python3-sklearn), it also runs the classic FastAPI + scikit-learn service
 * (scripts/baseline/fastapi_sklearn.py) on the same single-feature job, alternating with ours in
 * the same run, and prints the ratio: the machine is shared and noisy, so only ratios measured
 * side by side mean anything.
 *
 *   BENCH_SECONDS      seconds per measurement (default 10)
 *   BENCH_CONNECTIONS  concurrent connections (default 16)
 *   BENCH_ROUNDS       alternating rounds of the servers compared on `linear` (default 2)
 */
import autocannon from 'autocannon';
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { loadTfjsModel } from '../src/engines/tfjs/tfjs-loader';
import { scanRepository } from '../src/model/model-repository';
import { ROOT, RunningServer, startCommand, startModelServer } from './lib/server';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 16);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2);
const LOADS = 20;
const PYTHON = '/usr/bin/python3';
const BASELINE_PORT = 18731;

/** One instance per shipped model, shaped like its input. */
const BODIES: Record<string, object> = {
  linear: { model: 'linear', instances: [[0.5]] },
  iris: { model: 'iris', instances: [[5.1, 3.5, 1.4, 0.2]] },
  'iris-graph': { model: 'iris-graph', instances: [[5.1, 3.5, 1.4, 0.2]] },
};

interface Measurement {
  rps: number;
  p50: number;
  p99: number;
  failed: number;
}

async function drive(url: string, body: object): Promise<Measurement> {
  const result = await autocannon({
    url: `${url}/predict`,
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
    connections: CONNECTIONS,
    duration: SECONDS,
  });
  return {
    rps: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    failed: result.non2xx + result.errors + result.timeouts,
  };
}

/** Median time of reading + building the model from disk, in this process, on the wasm backend. */
async function medianLoadMs(name: string): Promise<number> {
  // The version the server serves by default (MODEL_VERSION_POLICY=latest).
  const served = await scanRepository(join(ROOT, 'models'), 'latest');
  const { dir } = served.find((location) => location.name === name)!;
  const times: number[] = [];
  for (let i = 0; i < LOADS; i++) {
    const started = performance.now();
    const { model } = await loadTfjsModel(dir);
    times.push(performance.now() - started);
    model.dispose();
  }
  return times.sort((a, b) => a - b)[Math.floor(LOADS / 2)];
}

function baselineAvailable(): boolean {
  const probe = spawnSync(PYTHON, ['-c', 'import fastapi, uvicorn, sklearn'], { stdio: 'ignore' });
  return probe.status === 0;
}

const row = (label: string, m: Measurement, extra = '') =>
  `${label.padEnd(30)} ${m.rps.toFixed(0).padStart(7)} ${m.p50.toFixed(1).padStart(7)} ${m.p99.toFixed(1).padStart(7)} ${String(m.failed).padStart(7)}  ${extra}`;

const mean = (values: number[]) => values.reduce((a, b) => a + b, 0) / values.length;
const average = (ms: Measurement[]): Measurement => ({
  rps: mean(ms.map((m) => m.rps)),
  p50: mean(ms.map((m) => m.p50)),
  p99: mean(ms.map((m) => m.p99)),
  failed: ms.reduce((total, m) => total + m.failed, 0),
});

interface Contender {
  label: string;
  start(): Promise<RunningServer>;
}

/** The servers compared on `linear`, alternated round by round so they share the machine's mood. */
function contenders(): Contender[] {
  const list: Contender[] = [
    { label: 'this server, 1 worker', start: () => startModelServer() },
    { label: 'this server, WORKERS=2', start: () => startModelServer({ WORKERS: '2' }) },
  ];
  if (!baselineAvailable()) return list;
  const dir = join(ROOT, 'scripts', 'baseline');
  // One uvicorn worker, as the tutorials run it. (Debian's uvicorn 0.17 with --workers 2 was
  // measured here at ~350 req/s, a third of one worker, so it makes no fair second baseline.)
  list.push({
    label: 'FastAPI + sklearn, 1 worker',
    start: () =>
      startCommand(
        PYTHON,
        [
          '-m',
          'uvicorn',
          'fastapi_sklearn:app',
          '--app-dir',
          dir,
          '--host',
          '127.0.0.1',
          '--port',
          String(BASELINE_PORT),
          '--log-level',
          'warning',
        ],
        `http://127.0.0.1:${BASELINE_PORT}/docs`,
      ),
  });
  return list;
}

/** Runs `body` against a freshly started server after a short unmeasured warm-up (JIT, caches). */
async function measureFresh(contender: Contender, body: object): Promise<Measurement> {
  const server = await contender.start();
  try {
    await autocannon({
      url: `${server.url}/predict`,
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
      connections: CONNECTIONS,
      duration: 2,
    });
    return await drive(server.url, body);
  } finally {
    await server.stop();
  }
}

async function main(): Promise<void> {
  const lines: string[] = [];
  const perModel: Record<string, Measurement> = {};
  const ours = await startModelServer();
  try {
    for (const name of Object.keys(BODIES)) {
      await drive(ours.url, BODIES[name]); // warm-up
      perModel[name] = await drive(ours.url, BODIES[name]);
    }
  } finally {
    await ours.stop();
  }
  const compared = contenders();
  const results = new Map<string, Measurement[]>(compared.map((c) => [c.label, []]));
  for (let round = 0; round < ROUNDS; round++) {
    for (const contender of compared)
      results.get(contender.label)!.push(await measureFresh(contender, BODIES.linear));
  }

  // Load times are measured after the load tests, so they do not compete for the CPU.
  await tf.setBackend('wasm');
  lines.push(
    `POST /predict, one instance per request, ${CONNECTIONS} connections, ${SECONDS} s each after a warm-up, node ${process.version}`,
  );
  lines.push(
    `${'server / model'.padEnd(30)} ${'req/s'.padStart(7)} ${'p50 ms'.padStart(7)} ${'p99 ms'.padStart(7)} ${'failed'.padStart(7)}  one load from disk (median of ${LOADS})`,
  );
  for (const [name, m] of Object.entries(perModel)) {
    lines.push(
      row(`this server, 1 worker / ${name}`, m, `${(await medianLoadMs(name)).toFixed(2)} ms`),
    );
  }
  lines.push(`linear, ${ROUNDS} alternating rounds (mean of rounds):`);
  const means = new Map([...results].map(([label, ms]) => [label, average(ms)]));
  for (const [label, m] of means) lines.push(row(label, m));
  const baseline = means.get('FastAPI + sklearn, 1 worker');
  if (baseline) {
    for (const label of ['this server, 1 worker', 'this server, WORKERS=2']) {
      lines.push(
        `${label}: ${(means.get(label)!.rps / baseline.rps).toFixed(2)}x the req/s of FastAPI + scikit-learn (1 worker)`,
      );
    }
  } else {
    lines.push(
      `(FastAPI baseline skipped: ${PYTHON} lacks fastapi/uvicorn/sklearn; apt-get install python3-fastapi python3-uvicorn python3-sklearn)`,
    );
  }
  console.log(lines.join('\n'));
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
