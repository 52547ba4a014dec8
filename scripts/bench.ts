/**
 * npm run bench: starts the built server (node dist/main.js) on loopback and measures, with wrk
 * (or autocannon where wrk is not installed: scripts/lib/load.ts), bounded in time, the three
 * comparisons of the inference-thread work; servers that
 * are compared run alternately, round by round, so they share the machine's mood (these machines
 * are shared and noisy: only ratios measured side by side mean anything).
 *
 * 1. A heavy model (the MoveNet fixture, ~30 ms per image on wasm) under 16 connections: the
 *    default thread count against INFERENCE_THREADS=1, with /health/live latency (sequential
 *    probes, each on a fresh connection, as a kubelet's) measured while inference saturates the threads.
 *    Then the same with JSON: the CNN fixture (test/fixtures/cnn/cnn-tfjs, ~7 ms) fed one 64x64x3
 *    image per /predict request (~90 kB of JSON), each thread count with the parse thread
 *    (default) and with JSON_PARSE_THREADS=0 (every body parsed on the main thread). Both note
 *    the CPU per request of the server's main, json-parse, inference and other (V8, libuv)
 *    threads and of wrk, from /proc: unlike latency, that still means something on a shared
 *    machine, and it says where a request's cost goes.
 * 2. A small dense model (iris) under 64 connections: batching on (default) against
 *    BATCH_MAX_SIZE=1, with the mean rows per executed batch read from /metrics.
 * 3. The single-feature `linear` model under 16 connections against the classic FastAPI +
 *    scikit-learn service (scripts/baseline/fastapi_sklearn.py, when /usr/bin/python3 has
 *    fastapi, uvicorn and sklearn: Debian's python3-fastapi python3-uvicorn python3-sklearn).
 *
 *   BENCH_SECONDS  seconds per measurement (default 10)
 *   BENCH_ROUNDS   alternating rounds per comparison (default 2)
 *   BENCH_ONLY     run only the comparisons whose number is listed (e.g. "1b" or "1,1b")
 */
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { get } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LOAD_GENERATOR, LoadResult, postLoad } from './lib/load';
import { metricSum } from './lib/metrics';
import { ROOT, RunningServer, startCommand, startModelServer } from './lib/server';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2);
const PYTHON = '/usr/bin/python3';
const BASELINE_PORT = 18731;
const MOVENET_DIR = join(ROOT, 'test', 'fixtures', 'converted');

interface Measurement extends LoadResult {
  /** Extra numbers a comparison reads while it runs (probe latency, rows per batch). */
  notes: string[];
}

interface Contender {
  label: string;
  start(): Promise<RunningServer>;
}

interface Comparison {
  title: string;
  connections: number;
  body: string | Buffer;
  headers?: Record<string, string>;
  path: string;
  contenders: Contender[];
  /** Runs beside the load and returns notes (e.g. probe latencies). */
  during?: (url: string, until: number) => Promise<string[]>;
  /** Reads notes from the server after the load (e.g. batch sizes from /metrics). */
  after?: (url: string, before: string) => Promise<string[]>;
  /** Notes the CPU per request (Linux) of the server's threads by kind, and of the load generator. */
  cpu?: boolean;
  /** Pairs of contenders whose req/s ratio is printed; default: the first against each other. */
  ratios?: [string, string][];
}

function load(url: string, c: Comparison, seconds: number) {
  return postLoad({
    url: `${url}${c.path}`,
    headers: c.headers ?? { 'content-type': 'application/json' },
    body: c.body,
    connections: c.connections,
    seconds,
  });
}

/** CPU seconds (user + system) of a task from /proc: a process, or one of its threads. */
function cpuSeconds(stat: string, children = false): number {
  if (!existsSync(stat)) return NaN;
  const fields = readFileSync(stat, 'utf8').split(') ')[1].split(' ');
  const at = children ? 13 : 11; // cutime, cstime: the CPU of children waited for (wrk)
  return (Number(fields[at]) + Number(fields[at + 1])) / 100; // USER_HZ is 100 on Linux
}

/** The threads the server names (nameThread): the rest are V8's and libuv's helpers. */
const THREAD_GROUPS = ['main', 'json-parse', 'inference', 'other'] as const;

/** CPU seconds of a process's threads summed by group; main is the thread whose id is the pid. */
function threadCpu(pid: number): Map<string, number> {
  const groups = new Map<string, number>(THREAD_GROUPS.map((g) => [g, 0]));
  const dir = `/proc/${pid}/task`;
  for (const tid of existsSync(dir) ? readdirSync(dir) : []) {
    try {
      const comm = readFileSync(`${dir}/${tid}/comm`, 'utf8').trim();
      const group = Number(tid) === pid ? 'main' : groups.has(comm) ? comm : 'other';
      groups.set(group, groups.get(group)! + cpuSeconds(`${dir}/${tid}/stat`));
    } catch {
      // a thread that ended between the listing and the read
    }
  }
  return groups;
}

/**
 * CPU per request of each of the server's threads (main, parse, inference, the rest), and of the
 * load generator (the CPU of this script's children that ended: wrk). Unlike latencies, CPU time
 * barely moves when other jobs share the cores, so these say where a request's cost goes.
 * Threads that ended during the measurement (a replaced thread) are not counted.
 */
function cpuMeter(pid: number | undefined) {
  if (pid === undefined || !existsSync(`/proc/${pid}/task`)) return () => [];
  const before = threadCpu(pid);
  const loadBefore = cpuSeconds('/proc/self/stat', true);
  return (requests: number): string[] => {
    const after = threadCpu(pid);
    const perRequest = (seconds: number) => ((1000 * seconds) / requests).toFixed(2);
    const spent = THREAD_GROUPS.map((g) => after.get(g)! - before.get(g)!);
    const parts = THREAD_GROUPS.map((g, i) => `${g} ${perRequest(spent[i])}`);
    parts.push(`server ${perRequest(spent.reduce((a, b) => a + b, 0))}`);
    const load = perRequest(cpuSeconds('/proc/self/stat', true) - loadBefore);
    return [`CPU ms per request: ${parts.join(', ')}; ${LOAD_GENERATOR} ${load}`];
  };
}

async function measure(contender: Contender, c: Comparison): Promise<Measurement> {
  const server = await contender.start();
  try {
    await load(server.url, c, 2); // warm-up: JIT, caches, kernels
    const before = await (await fetch(`${server.url}/metrics`)).text().catch(() => '');
    const cpu = c.cpu ? cpuMeter(server.child.pid) : undefined;
    const running = load(server.url, c, SECONDS);
    const during = c.during?.(server.url, Date.now() + SECONDS * 1000) ?? Promise.resolve([]);
    const [result, notes] = await Promise.all([running, during]);
    const cpuNotes = cpu?.(result.rps * SECONDS) ?? [];
    const afterNotes = (await c.after?.(server.url, before)) ?? [];
    return { ...result, notes: [...notes, ...cpuNotes, ...afterNotes] };
  } finally {
    await server.stop();
  }
}

const percentile = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];

const PROBES = 200;

/** One GET on a fresh connection (a kubelet opens one per probe); resolves with its milliseconds. */
const probeOnce = (url: string) =>
  new Promise<number>((resolve, reject) => {
    const started = performance.now();
    get(url, { agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(performance.now() - started));
    }).on('error', reject);
  });

/** Sequential GET /health/live every 20 ms until `until` (at most 200): what a kubelet would see. */
async function probeLiveness(url: string, until: number): Promise<string[]> {
  // Untimed: a process's first GET also loads and compiles the prober's own HTTP client: 8-13 ms
  // against 2-4 for the next ones on an idle server (15-21 against 3-5 with two CPU hogs), a
  // cost a kubelet, long running, never pays, and one that fell on the first round only.
  await probeOnce(`${url}/health/live`);
  const times: number[] = [];
  while (Date.now() < until && times.length < PROBES) {
    times.push(await probeOnce(`${url}/health/live`));
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  times.sort((a, b) => a - b);
  return [
    `/health/live over ${times.length} probes: p50 ${percentile(times, 50).toFixed(1)} ms, p99 ${percentile(times, 99).toFixed(1)} ms, max ${times.at(-1)!.toFixed(1)} ms`,
  ];
}

/** Mean rows per executed batch of one model during the measurement, from /metrics deltas. */
const rowsPerBatch =
  (model: string) =>
  async (url: string, before: string): Promise<string[]> => {
    const after = await (await fetch(`${url}/metrics`)).text();
    const delta = (name: string) =>
      metricSum(after, name, `model="${model}"`) - metricSum(before, name, `model="${model}"`);
    const batches = delta('model_batch_rows_count');
    return [`mean ${(delta('model_batch_rows_sum') / batches).toFixed(1)} rows per batch`];
  };

/** Full (mark-compact) GCs of the server's main thread during the measurement, from /metrics. */
async function majorGcs(url: string, before: string): Promise<string[]> {
  const after = await (await fetch(`${url}/metrics`)).text();
  const count = (text: string) =>
    metricSum(text, 'nodejs_gc_duration_seconds_count', 'kind="major"');
  const seconds = (text: string) =>
    metricSum(text, 'nodejs_gc_duration_seconds_sum', 'kind="major"');
  const ms = (1000 * (seconds(after) - seconds(before))).toFixed(0);
  return [`main thread: ${count(after) - count(before)} full GCs, ${ms} ms`];
}

function baselineAvailable(): boolean {
  const probe = spawnSync(PYTHON, ['-c', 'import fastapi, uvicorn, sklearn'], { stdio: 'ignore' });
  return probe.status === 0;
}

function fastApi(): Contender {
  const dir = join(ROOT, 'scripts', 'baseline');
  const args = ['-m', 'uvicorn', 'fastapi_sklearn:app', '--app-dir', dir, '--host', '127.0.0.1'];
  return {
    label: 'FastAPI + sklearn, 1 worker',
    start: () =>
      startCommand(
        PYTHON,
        [...args, '--port', String(BASELINE_PORT), '--log-level', 'warning'],
        `http://127.0.0.1:${BASELINE_PORT}/docs`,
      ),
  };
}

/**
 * A deterministic 192x192x3 image for MoveNet as a V2 binary request (JSON header + int32 bytes):
 * the main thread does not parse 110,592 numbers of JSON per request, so what is measured is
 * where inference runs, not JSON (scripts/bench-inputs.ts compares the two).
 */
function movenetRequest(): { body: Buffer; headers: Record<string, string> } {
  let seed = 7;
  const pixels = Int32Array.from(
    { length: 192 * 192 * 3 },
    () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) % 256,
  );
  const header = Buffer.from(
    JSON.stringify({
      inputs: [
        {
          name: 'input:0',
          shape: [1, 192, 192, 3],
          datatype: 'INT32',
          parameters: { binary_data_size: pixels.byteLength },
        },
      ],
    }),
  );
  return {
    body: Buffer.concat([header, Buffer.from(pixels.buffer)]),
    headers: {
      'content-type': 'application/octet-stream',
      'inference-header-content-length': String(header.length),
    },
  };
}

/** The CNN fixture alone in a model repository of its own, served as `cnn`. */
function cnnRepository(): string {
  const dir = mkdtempSync(join(tmpdir(), 'bench-cnn-'));
  cpSync(join(ROOT, 'test', 'fixtures', 'cnn', 'cnn-tfjs', '1'), join(dir, 'cnn', '1'), {
    recursive: true,
  });
  return dir;
}

/** One deterministic 64x64x3 image for the CNN as a /predict JSON body, 4 decimals a value. */
function cnnJsonRequest(): string {
  let seed = 7;
  const next = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  const image = Array.from({ length: 64 }, () =>
    Array.from({ length: 64 }, () =>
      Array.from({ length: 3 }, () => Math.round(next() * 1e4) / 1e4),
    ),
  );
  return JSON.stringify({ model: 'cnn', instances: [image] });
}

function comparisons(): Comparison[] {
  const threads = String(require('node:os').availableParallelism());
  const movenet = (env: Record<string, string>) => () =>
    startModelServer({ MODEL_DIR: MOVENET_DIR, ...env });
  const shipped = (env: Record<string, string>) => () => startModelServer(env);
  const linear: Contender[] = [
    { label: 'this server, default settings', start: shipped({}) },
    {
      label: 'this server, WORKERS=2 x 1 thread',
      start: shipped({ WORKERS: '2', INFERENCE_THREADS: '1' }),
    },
  ];
  if (baselineAvailable()) linear.push(fastApi());
  return [
    {
      title: `1. heavy model (MoveNet, V2 binary int32 [1,192,192,3]), 16 connections`,
      connections: 16,
      path: '/v2/models/movenet-lightning/infer',
      ...movenetRequest(),
      contenders: [
        { label: `INFERENCE_THREADS=${threads} (default)`, start: movenet({}) },
        { label: 'INFERENCE_THREADS=1', start: movenet({ INFERENCE_THREADS: '1' }) },
      ],
      during: probeLiveness,
      cpu: true,
    },
    jsonComparison(threads),
    {
      title: '2. small dense model (iris), one row per request, 64 connections',
      connections: 64,
      path: '/predict',
      body: JSON.stringify({ model: 'iris', instances: [[5.1, 3.5, 1.4, 0.2]] }),
      contenders: [
        { label: 'batching on (default)', start: shipped({}) },
        { label: 'BATCH_MAX_SIZE=1', start: shipped({ BATCH_MAX_SIZE: '1' }) },
      ],
      after: rowsPerBatch('iris'),
    },
    {
      title: '3. single-feature linear model, 16 connections',
      connections: 16,
      path: '/predict',
      body: JSON.stringify({ model: 'linear', instances: [[0.5]] }),
      contenders: linear,
    },
  ];
}

/** 1b: the CNN fed JSON, each thread count with and without the parse thread. */
function jsonComparison(threads: string): Comparison {
  const cnn = (env: Record<string, string>) => () =>
    startModelServer({ MODEL_DIR: cnnRepository(), ...env });
  const body = cnnJsonRequest();
  const labels = {
    many: `INFERENCE_THREADS=${threads} (default)`,
    one: 'INFERENCE_THREADS=1',
    manyHere: `INFERENCE_THREADS=${threads}, JSON_PARSE_THREADS=0`,
    oneHere: 'INFERENCE_THREADS=1, JSON_PARSE_THREADS=0',
  };
  return {
    title: `1b. CNN (64x64x3 as /predict JSON, ${(body.length / 1024).toFixed(0)} kB), 16 connections`,
    connections: 16,
    path: '/predict',
    body,
    contenders: [
      { label: labels.many, start: cnn({}) },
      { label: labels.one, start: cnn({ INFERENCE_THREADS: '1' }) },
      { label: labels.manyHere, start: cnn({ JSON_PARSE_THREADS: '0' }) },
      { label: labels.oneHere, start: cnn({ INFERENCE_THREADS: '1', JSON_PARSE_THREADS: '0' }) },
    ],
    during: probeLiveness,
    after: majorGcs,
    cpu: true,
    ratios: [
      [labels.many, labels.one],
      [labels.manyHere, labels.oneHere],
      [labels.many, labels.manyHere],
    ],
  };
}

const mean = (values: number[]) => values.reduce((a, b) => a + b, 0) / values.length;
const row = (label: string, m: Measurement) =>
  `  ${label.padEnd(44)} ${m.rps.toFixed(0).padStart(7)} ${m.p50.toFixed(1).padStart(7)} ${m.p99.toFixed(1).padStart(7)} ${String(m.failed).padStart(7)}  ${m.notes.join('; ')}`;

async function run(c: Comparison): Promise<string[]> {
  const results = new Map<string, Measurement[]>(c.contenders.map((x) => [x.label, []]));
  for (let round = 0; round < ROUNDS; round++) {
    for (const contender of c.contenders) {
      results.get(contender.label)!.push(await measure(contender, c));
    }
  }
  const lines = [c.title];
  lines.push(
    `  ${'server'.padEnd(44)} ${'req/s'.padStart(7)} ${'p50 ms'.padStart(7)} ${'p99 ms'.padStart(7)} ${'failed'.padStart(7)}`,
  );
  const means = new Map<string, Measurement>();
  for (const [label, ms] of results) {
    const m: Measurement = {
      rps: mean(ms.map((x) => x.rps)),
      p50: mean(ms.map((x) => x.p50)),
      p99: mean(ms.map((x) => x.p99)),
      failed: ms.reduce((n, x) => n + x.failed, 0),
      notes: ms.flatMap((x, i) => x.notes.map((note) => `r${i + 1}: ${note}`)),
    };
    means.set(label, m);
    lines.push(row(label, m));
  }
  const [first, ...others] = c.contenders.map((x) => x.label);
  for (const [a, b] of c.ratios ?? others.map((label): [string, string] => [first, label])) {
    lines.push(`  ${a}: ${(means.get(a)!.rps / means.get(b)!.rps).toFixed(2)}x the req/s of ${b}`);
  }
  return lines;
}

async function main(): Promise<void> {
  const lines = [
    `npm run bench: ${SECONDS} s per measurement after a 2 s warm-up, ${ROUNDS} alternating rounds (means), load from ${LOAD_GENERATOR}, node ${process.version}`,
  ];
  const only = process.env.BENCH_ONLY?.split(',').map((n) => `${n.trim()}.`);
  const chosen = comparisons().filter((c) => !only || only.some((n) => c.title.startsWith(n)));
  for (const comparison of chosen) {
    lines.push(...(await run(comparison)));
    const ratios = comparison.ratios?.length ?? comparison.contenders.length - 1;
    console.log(lines.slice(-(comparison.contenders.length + 2 + ratios)).join('\n'));
  }
  if (!baselineAvailable()) {
    lines.push(
      `(FastAPI baseline skipped: ${PYTHON} lacks fastapi/uvicorn/sklearn; apt-get install python3-fastapi python3-uvicorn python3-sklearn)`,
    );
  }
  console.log(`\n${lines.join('\n')}`);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
