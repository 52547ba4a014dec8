/**
 * What bad requests cost the good ones (npm run bench:isolation; bounded: about
 * 2 x BENCH_ROUNDS x BENCH_SECONDS plus start-up). A request that fails inside the engine fails
 * the whole merged batch it ran in, which is then rerun request by request so only the bad one
 * gets an error. This measures requests/s of the built server with 0% and with 1% such requests,
 * side by side in one run (alternated, so drift on a shared machine shows as spread, not as a
 * difference), and the engine runs per request, which do not depend on the machine's load.
 *
 * Model: the Cast -> Gather(table[10,3]) ONNX fixture; a bad request asks for row 50, which
 * passes every check before the engine and fails in ONNX Runtime. Load: wrk, one request per
 * connection at a time, every 100th request of each connection bad.
 *
 *   BENCH_SECONDS      seconds per measurement (default 5), after a 1 s warm-up
 *   BENCH_CONNECTIONS  concurrent connections (default 16)
 *   BENCH_ROUNDS       pairs of measurements, 0% then 1% (default 2)
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gatherOnnx } from '../test/utils/fixtures';
import { LOAD_GENERATOR, LoadResult, postLoad } from './lib/load';
import { startModelServer } from './lib/server';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 16);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2);
const BAD_EVERY = 100;

const body = (index: number) =>
  JSON.stringify({ inputs: [{ name: 'index', shape: [1], datatype: 'INT32', data: [index] }] });

interface Counts {
  batches: number;
  rows: number;
  ok: number;
  error: number;
}

/** The gather model's batch and outcome counters, summed over their label sets. */
async function counts(url: string): Promise<Counts> {
  const lines = (await (await fetch(`${url}/metrics`)).text()).split('\n');
  const value = (name: string, label = '') =>
    lines
      .filter((l) => l.startsWith(`${name}{`) && l.includes('model="gather"') && l.includes(label))
      .reduce((n, l) => n + Number(l.split(' ').at(-1)), 0);
  return {
    batches: value('model_batch_rows_count'),
    rows: value('model_batch_rows_sum'),
    ok: value('model_inference_total', 'outcome="ok"'),
    error: value('model_inference_total', 'outcome="error"'),
  };
}

async function main(): Promise<void> {
  if (LOAD_GENERATOR !== 'wrk')
    throw new Error('this benchmark mixes bodies with wrk: install wrk');
  const repository = mkdtempSync(join(tmpdir(), 'bench-isolation-'));
  await gatherOnnx(join(repository, 'gather', '1'));
  const server = await startModelServer({ MODEL_DIR: repository });
  try {
    const url = `${server.url}/v2/models/gather/infer`;
    const headers = { 'content-type': 'application/json' };
    const run = (mixed: boolean, seconds = SECONDS) =>
      postLoad({
        url,
        headers,
        body: body(3),
        connections: CONNECTIONS,
        seconds,
        mixed: mixed ? { body: body(50), every: BAD_EVERY } : undefined,
      });
    await run(false, 1);
    const results: { bad: string; result: LoadResult; delta: Counts }[] = [];
    for (const mixed of Array.from({ length: 2 * ROUNDS }, (_, i) => i % 2 === 1)) {
      const before = await counts(server.url);
      const result = await run(mixed);
      const after = await counts(server.url);
      const delta = {
        batches: after.batches - before.batches,
        rows: after.rows - before.rows,
        ok: after.ok - before.ok,
        error: after.error - before.error,
      };
      results.push({ bad: mixed ? `1/${BAD_EVERY}` : '0', result, delta });
    }
    console.log(
      `${LOAD_GENERATOR}, ${CONNECTIONS} connections, ${SECONDS} s each, gather ONNX model, default threads and batching`,
    );
    console.log(
      'bad requests | req/s | p50 ms | p99 ms | answered ok | failed (server count) | non-2xx (wrk) | engine runs | runs per request | rows per run',
    );
    for (const { bad, result, delta } of results) {
      const perRequest = delta.batches / Math.max(1, delta.ok + delta.error);
      const perRun = delta.rows / Math.max(1, delta.batches);
      console.log(
        `${bad.padEnd(12)} | ${result.rps.toFixed(0)} | ${result.p50.toFixed(2)} | ${result.p99.toFixed(2)} | ${delta.ok} | ${delta.error} | ${result.failed} | ${delta.batches} | ${perRequest.toFixed(3)} | ${perRun.toFixed(2)}`,
      );
    }
    const mean = (mixed: boolean) => {
      const picked = results.filter((r) => (r.bad !== '0') === mixed);
      return picked.reduce((n, r) => n + r.result.rps, 0) / picked.length;
    };
    console.log(`req/s with 1% bad / with none: ${(mean(true) / mean(false)).toFixed(3)}`);
  } finally {
    await server.stop();
    rmSync(repository, { recursive: true, force: true });
  }
}

main().catch((error: Error) => {
  console.error(error.message);
  process.exit(1);
});
