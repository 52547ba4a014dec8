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
 *   BENCH_SECONDS      seconds per measurement (default 8, after a 2 s warm-up)
 *   BENCH_CONNECTIONS  concurrent connections (default 1)
 */
import autocannon from 'autocannon';
import { join } from 'node:path';
import { ROOT, startModelServer } from './lib/server';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 8);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 1);
const WARMUP_SECONDS = 2;
const SHAPE = [1, 192, 192, 3];
const INPUT = 'input:0';
const PATH = '/v2/models/movenet-lightning/infer';

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

async function measure(url: string, form: Form, expect413 = false): Promise<Result> {
  await run(url, form, WARMUP_SECONDS);
  const cpuBefore = await metric(url, 'process_cpu_seconds_total');
  const inferenceBefore = await metric(url, 'model_inference_duration_seconds_sum');
  const result = await run(url, form, SECONDS);
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

async function withServer<T>(
  env: Record<string, string>,
  job: (url: string) => Promise<T>,
): Promise<T> {
  // Default log level, as in production: one request log line per request in every form.
  const server = await startModelServer({
    MODEL_DIR: join(ROOT, 'test', 'fixtures', 'converted'),
    ...env,
  });
  try {
    return await job(server.url);
  } finally {
    await server.stop();
  }
}

async function main(): Promise<void> {
  const whole = await withServer({}, async (url) => {
    const all = forms();
    await checkSameAnswers(url, all);
    const results: Result[] = [];
    for (const form of all) results.push(await measure(url, form));
    return results;
  });
  const inputPath = await withServer({ MAX_BATCH: '1' }, async (url) => {
    const all = forms(2);
    await checkRefusedAfterDecoding(url, all);
    const results: Result[] = [];
    for (const form of all) results.push(await measure(url, form, true));
    return results;
  });
  print(whole, inputPath);
}

function print(whole: Result[], inputPath: Result[]): void {
  const pad = (value: string, width: number) => value.padStart(width);
  console.log(
    `\nMoveNet int32 [1,192,192,3] on ${PATH}, ${CONNECTIONS} connection(s), ${SECONDS} s each after a ${WARMUP_SECONDS} s warm-up, node ${process.version}`,
  );
  console.log(
    `${'form'.padEnd(28)} ${pad('body', 8)} ${pad('req/s', 7)} ${pad('p50 ms', 7)} ${pad('p99 ms', 7)} ${pad('failed', 6)} ${pad('CPU ms/req', 11)} ${pad('input path CPU ms/image', 24)}`,
  );
  whole.forEach((r, i) => {
    const input = inputPath[i];
    console.log(
      `${r.label.padEnd(28)} ${pad(`${(r.bodyBytes / 1024).toFixed(0)} kB`, 8)} ${pad(r.rps.toFixed(1), 7)} ${pad(r.p50.toFixed(1), 7)} ${pad(r.p99.toFixed(1), 7)} ${pad(String(r.failed + input.failed), 6)} ${pad(r.cpuMs.toFixed(2), 11)} ${pad((input.cpuMs / 2).toFixed(2), 24)}`,
    );
  });
  console.log(
    'CPU ms/req: the whole process per request, inference threads included. Input path: read, parse, check and pack on the main thread, measured on requests of 2 images refused by MAX_BATCH=1 after decoding.',
  );
  const [json, ...binary] = inputPath;
  for (const b of binary) {
    const ratio = json.cpuMs / b.cpuMs;
    console.log(
      `${b.label}: ${ratio.toFixed(1)}x less main-thread CPU per image on the input path than JSON (target >= 5x: ${ratio >= 5 ? 'met' : 'NOT met'})`,
    );
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
