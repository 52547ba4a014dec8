/**
 * Large inputs as JSON vs V2 binary tensor data: starts the built server (node dist/main.js) on
 * loopback with the MoveNet fixture (int32 [1,192,192,3]) and sends the same image as V2 JSON, as
 * V2 binary (JSON header + bytes) and in the raw binary form (header length 0), bounded in time.
 *
 *   npx nest build && npx ts-node scripts/bench-inputs.ts
 *
 * CPU is the server's own, read from its /metrics: the delta of process_cpu_seconds_total over a
 * measurement, divided by the requests answered. That counter covers the whole process, the
 * inference threads included, and inference (~30 ms for MoveNet, more on a shared machine)
 * drowns the input path; so the input path is measured on its own too: a second server with
 * MAX_BATCH=1 receives two images per request, reads, parses, checks and packs both on the main
 * thread (ModelService.infer checks MAX_BATCH after the protocol layer has encoded the inputs)
 * and answers 413 without running the model. Its CPU per image is the main-thread cost of an
 * image in each form.
 *
 * The main thread's own CPU (from /proc, scripts/lib/thread-cpu.ts) is measured beside it: what
 * accepting, parsing, checking and copying an input costs the thread every request shares. With
 * BENCH_BEFORE_ROOT naming another checkout's build (e.g. a clone at an older commit, after
 * `npx nest build` there), both servers run side by side, measured form by form in turn, and the
 * main-thread CPU per request is compared: before and after a change, under the same load. The
 * V2 binary input path alone (the V2 mapper's encodeInferRequest, then the transfer list and the
 * move to a thread, as InferenceThread.run does) is also timed in this process for both builds'
 * dist/ in alternating rounds: without HTTP, logging and inference around it, the copies show.
 *
 *   BENCH_SECONDS      seconds per measurement (default 8, after a 2 s warm-up)
 *   BENCH_CONNECTIONS  concurrent connections (default 1)
 *   BENCH_BEFORE_ROOT  a second checkout whose dist/main.js is measured as "before" (optional)
 */
import autocannon from 'autocannon';
import { join } from 'node:path';
import type { Tensor } from '../src/tensor/tensor';
import { RunningServer, ROOT, startModelServer } from './lib/server';
import { threadCpuMs } from './lib/thread-cpu';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 8);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 1);
const WARMUP_SECONDS = 2;
const SHAPE = [1, 192, 192, 3];
const INPUT = 'input:0';
const PATH = '/v2/models/movenet-lightning/infer';

/** The builds measured: this checkout's, and the one to compare it with. */
const BUILDS = [
  { label: 'this build', root: ROOT },
  ...(process.env.BENCH_BEFORE_ROOT
    ? [{ label: 'before', root: process.env.BENCH_BEFORE_ROOT }]
    : []),
];

/** A deterministic image: the same pixels in every form. */
const pixels = Array.from({ length: 192 * 192 * 3 }, (_, i) => (i * 7) % 256);

interface Form {
  label: string;
  headers: Record<string, string>;
  body: Buffer;
}

/** The same `images` images in each form (shape [images,192,192,3]). */
function forms(images = 1): Form[] {
  const data = Array.from({ length: images }, () => pixels).flat();
  const shape = [images, ...SHAPE.slice(1)];
  const json = JSON.stringify({
    inputs: [{ name: INPUT, shape, datatype: 'INT32', data }],
  });
  const bytes = Buffer.from(new Int32Array(data).buffer);
  const header = Buffer.from(
    JSON.stringify({
      inputs: [
        {
          name: INPUT,
          shape,
          datatype: 'INT32',
          parameters: { binary_data_size: bytes.length },
        },
      ],
    }),
  );
  return [
    {
      label: 'V2 JSON',
      headers: { 'content-type': 'application/json' },
      body: Buffer.from(json),
    },
    {
      label: 'V2 binary (header + bytes)',
      headers: {
        'content-type': 'application/octet-stream',
        'inference-header-content-length': String(header.length),
      },
      body: Buffer.concat([header, bytes]),
    },
    {
      label: 'V2 binary, raw form',
      headers: {
        'content-type': 'application/octet-stream',
        'inference-header-content-length': '0',
      },
      body: bytes,
    },
  ];
}

/** Sums every series of a metric in Prometheus text (labels ignored). */
async function metric(url: string, name: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  return text
    .split('\n')
    .filter((line) => line.startsWith(`${name} `) || line.startsWith(`${name}{`))
    .reduce((total, line) => total + Number(line.split(' ').pop()), 0);
}

interface Result {
  label: string;
  bodyBytes: number;
  rps: number;
  p50: number;
  p99: number;
  failed: number;
  cpuMs: number;
  /** CPU of the main thread alone (accept, parse, check, copy, respond), per answered request. */
  mainMs: number;
  inferenceMs: number;
}

const run = (url: string, form: Form, seconds: number) =>
  autocannon({
    url: `${url}${PATH}`,
    method: 'POST',
    headers: form.headers,
    body: form.body,
    connections: CONNECTIONS,
    duration: seconds,
  });

async function measure(server: RunningServer, form: Form, expect413 = false): Promise<Result> {
  const { url } = server;
  const pid = server.child.pid!;
  await run(url, form, WARMUP_SECONDS);
  const cpuBefore = await metric(url, 'process_cpu_seconds_total');
  const inferenceBefore = await metric(url, 'model_inference_duration_seconds_sum');
  const mainBefore = threadCpuMs(pid);
  const result = await run(url, form, SECONDS);
  const main = threadCpuMs(pid) - mainBefore;
  const cpu = (await metric(url, 'process_cpu_seconds_total')) - cpuBefore;
  const inference = (await metric(url, 'model_inference_duration_seconds_sum')) - inferenceBefore;
  const answered = result['2xx'] + result['4xx'];
  return {
    label: form.label,
    bodyBytes: form.body.length,
    rps: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    failed: result.errors + result.timeouts + (expect413 ? result['2xx'] : result.non2xx),
    cpuMs: (cpu * 1000) / answered,
    mainMs: main / answered,
    inferenceMs: (inference * 1000) / answered,
  };
}

/** Every form must give the same answer before any of them is timed. */
async function checkSameAnswers(url: string, all: Form[]): Promise<void> {
  const answers = await Promise.all(
    all.map(async (form) => {
      const res = await fetch(`${url}${PATH}`, {
        method: 'POST',
        headers: form.headers,
        body: form.body,
      });
      if (res.status !== 200) throw new Error(`${form.label}: ${res.status} ${await res.text()}`);
      return JSON.stringify(((await res.json()) as { outputs: unknown }).outputs);
    }),
  );
  if (new Set(answers).size !== 1) throw new Error('the forms gave different answers');
}

/** The 413 must come from MAX_BATCH, checked after both images were decoded and packed. */
async function checkRefusedAfterDecoding(url: string, all: Form[]): Promise<void> {
  for (const form of all) {
    const res = await fetch(`${url}${PATH}`, {
      method: 'POST',
      headers: form.headers,
      body: form.body,
    });
    const text = await res.text();
    if (res.status !== 413 || !text.includes('MAX_BATCH')) {
      throw new Error(`${form.label}: expected the MAX_BATCH 413, got ${res.status} ${text}`);
    }
  }
}

const CODEC_ROUNDS = 7;
const CODEC_REQUESTS = 4000;

type EncodeInferRequest = (
  model: unknown,
  body: unknown,
  tail: { bytes: Buffer; headerless: boolean },
) => Promise<Tensor[]>;

/** A build's V2 input path: the mapper (decode, check, pack) and the transfer to a thread. */
function inputPathOf(root: string) {
  const { encodeInferRequest } = require(join(root, 'dist/edge/v2/v2.mapper.js')) as {
    encodeInferRequest: EncodeInferRequest;
  };
  const { transferList } = require(join(root, 'dist/core/inference/transfer.js')) as {
    transferList: (tensors: Tensor[]) => ArrayBuffer[];
  };
  const model = {
    name: 'movenet-lightning',
    signature: { inputs: [{ name: INPUT, dtype: 'int32', shape: SHAPE }], outputs: [] },
  };
  return async (body: unknown, tail: { bytes: Buffer; headerless: boolean }) => {
    const inputs = await encodeInferRequest(model, body, tail);
    const transfer = transferList(inputs);
    // What postMessage does with its transfer list: the buffers move, their owners lose them.
    structuredClone(
      inputs.map((t) => t.data),
      { transfer },
    );
  };
}

/** The header + bytes of one MoveNet image, the bytes at an offset that is (or is not) aligned. */
function binaryRequest(aligned: boolean) {
  const bytes = Buffer.from(new Int32Array(pixels).buffer);
  const input = { name: INPUT, shape: SHAPE, datatype: 'INT32' };
  let text = JSON.stringify({
    inputs: [{ ...input, parameters: { binary_data_size: bytes.length } }],
  });
  while ((text.length % 4 === 0) !== aligned) text += ' ';
  const body = Buffer.concat([Buffer.from(text), bytes]);
  return { parsed: JSON.parse(text) as unknown, body, headerLength: text.length };
}

/** Main-thread CPU µs per request of each build's V2 input path, rounds alternating between them. */
async function compareInputPath(): Promise<void> {
  const paths = BUILDS.map((build) => inputPathOf(build.root));
  const cases = [
    { label: 'header + bytes, aligned', ...binaryRequest(true) },
    { label: 'header + bytes, unaligned', ...binaryRequest(false) },
  ];
  console.log(
    `\nV2 binary input path in-process (mapper + transfer list + move), main-thread CPU µs per MoveNet request, median of ${CODEC_ROUNDS} rounds of ${CODEC_REQUESTS}:`,
  );
  console.log(`${'case'.padEnd(28)} ${'before'.padStart(8)} ${'after'.padStart(8)} ratio`);
  for (const { label, parsed, body, headerLength } of cases) {
    const perRequest: number[][] = paths.map(() => []);
    for (let round = 0; round < CODEC_ROUNDS + 1; round++) {
      for (const [i, path] of paths.entries()) {
        const start = threadCpuMs(process.pid);
        // Neither build moves a buffer the body still holds: one body serves every request.
        const tail = { bytes: body.subarray(headerLength), headerless: false };
        for (let n = 0; n < CODEC_REQUESTS; n++) await path(parsed, tail);
        // The first round warms the JIT up and is not counted.
        if (round > 0)
          perRequest[i].push(((threadCpuMs(process.pid) - start) * 1000) / CODEC_REQUESTS);
      }
    }
    const [after, before] = perRequest.map(median);
    console.log(
      `${label.padEnd(28)} ${before.toFixed(0).padStart(8)} ${after.toFixed(0).padStart(8)} ${(after / before).toFixed(2)}`,
    );
  }
  console.log(
    'Not counted: reading the body (raw-body gathers it into one buffer: the same copy in both builds).',
  );
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[values.length >> 1];

/** One server per build, on the MoveNet fixture of this checkout. */
async function withServers<T>(
  env: Record<string, string>,
  job: (servers: RunningServer[]) => Promise<T>,
): Promise<T> {
  const servers: RunningServer[] = [];
  try {
    for (const build of BUILDS) {
      // Default log level, as in production: one request log line per request in every form.
      servers.push(
        await startModelServer(
          { MODEL_DIR: join(ROOT, 'test', 'fixtures', 'converted'), ...env },
          build.root,
        ),
      );
    }
    return await job(servers);
  } finally {
    await Promise.all(servers.map((server) => server.stop()));
  }
}

/** Every form on every build, the builds in turn for each form: results[build][form]. */
async function measureAll(servers: RunningServer[], all: Form[], expect413 = false) {
  const results: Result[][] = servers.map(() => []);
  for (const form of all) {
    for (const [i, server] of servers.entries()) {
      results[i].push(await measure(server, form, expect413));
    }
  }
  return results;
}

async function main(): Promise<void> {
  if (BUILDS.length > 1) await compareInputPath();
  const whole = await withServers({}, async (servers) => {
    for (const server of servers) await checkSameAnswers(server.url, forms());
    return measureAll(servers, forms());
  });
  const inputPath = await withServers({ MAX_BATCH: '1' }, async (servers) => {
    for (const server of servers) await checkRefusedAfterDecoding(server.url, forms(2));
    return measureAll(servers, forms(2), true);
  });
  print(whole[0], inputPath[0]);
  if (BUILDS.length > 1) compare(whole, inputPath);
}

function print(whole: Result[], inputPath: Result[]): void {
  const pad = (value: string, width: number) => value.padStart(width);
  console.log(
    `\nMoveNet int32 [1,192,192,3] on ${PATH}, ${CONNECTIONS} connection(s), ${SECONDS} s each after a ${WARMUP_SECONDS} s warm-up, node ${process.version}`,
  );
  console.log(
    `${'form'.padEnd(28)} ${pad('body', 8)} ${pad('req/s', 7)} ${pad('p50 ms', 7)} ${pad('p99 ms', 7)} ${pad('failed', 6)} ${pad('CPU ms/req', 11)} ${pad('main thread ms/req', 19)} ${pad('input path CPU ms/image', 24)}`,
  );
  whole.forEach((r, i) => {
    const input = inputPath[i];
    console.log(
      `${r.label.padEnd(28)} ${pad(`${(r.bodyBytes / 1024).toFixed(0)} kB`, 8)} ${pad(r.rps.toFixed(1), 7)} ${pad(r.p50.toFixed(1), 7)} ${pad(r.p99.toFixed(1), 7)} ${pad(String(r.failed + input.failed), 6)} ${pad(r.cpuMs.toFixed(2), 11)} ${pad(r.mainMs.toFixed(2), 19)} ${pad((input.cpuMs / 2).toFixed(2), 24)}`,
    );
  });
  console.log(
    'CPU ms/req: the whole process per request, inference threads included; main thread: that thread alone. Input path: read, parse, check and pack on the main thread, measured on requests of 2 images refused by MAX_BATCH=1 after decoding.',
  );
  const [json, ...binary] = inputPath;
  for (const b of binary) {
    const ratio = json.cpuMs / b.cpuMs;
    console.log(
      `${b.label}: ${ratio.toFixed(1)}x less main-thread CPU per image on the input path than JSON (target >= 5x: ${ratio >= 5 ? 'met' : 'NOT met'})`,
    );
  }
}

/** Main-thread CPU per request, this build beside the one in BENCH_BEFORE_ROOT. */
function compare(whole: Result[][], inputPath: Result[][]): void {
  const pad = (value: string, width: number) => value.padStart(width);
  const [after, before] = whole;
  const [afterInput, beforeInput] = inputPath;
  console.log(
    `\nMain-thread CPU ms per request: before = ${BUILDS[1].root}, after = ${BUILDS[0].root}, measured in turn form by form`,
  );
  console.log(
    `${'form'.padEnd(28)} ${pad('before', 8)} ${pad('after', 8)} ${pad('after/before', 13)} ${pad('input path before', 18)} ${pad('after', 8)} ${pad('after/before', 13)}`,
  );
  after.forEach((a, i) => {
    const b = before[i];
    const [ai, bi] = [afterInput[i].mainMs / 2, beforeInput[i].mainMs / 2];
    console.log(
      `${a.label.padEnd(28)} ${pad(b.mainMs.toFixed(3), 8)} ${pad(a.mainMs.toFixed(3), 8)} ${pad((a.mainMs / b.mainMs).toFixed(2), 13)} ${pad(bi.toFixed(3), 18)} ${pad(ai.toFixed(3), 8)} ${pad((ai / bi).toFixed(2), 13)}`,
    );
  });
  console.log(
    'Whole requests (inference in the threads); input path per image: requests of 2 images refused by MAX_BATCH=1 after decoding, main thread only.',
  );
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
