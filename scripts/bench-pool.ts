/**
 * The ceiling of `npm run bench`'s first comparison: the inference pool driven directly, with no
 * HTTP, no main-thread parsing and no load generator, running MoveNet back to back in every
 * thread (INFERENCE_THREADS=1 against the cores). What the served comparison loses against this
 * is what HTTP, the 442 kB bodies and the load generator cost on the same cores.
 *
 *   npx ts-node scripts/bench-pool.ts   (BENCH_SECONDS per measurement, default 8; 2 rounds)
 */
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../src/config/app-config';
import { InferencePool } from '../src/core/inference/inference-pool';
import { engineOptions } from '../src/engines/registry';
import { ROOT } from './lib/server';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 8);
const MOVENET = join(ROOT, 'test', 'fixtures', 'converted', 'movenet-lightning', '1');

/** Runs per second with `threads` threads, each kept busy by one loop. */
async function runsPerSecond(threads: number): Promise<number> {
  const config = loadConfig({ TFJS_BACKEND: 'wasm', ORT_INTRA_OP_THREADS: '1' });
  const pool = new InferencePool({ threads, engines: engineOptions(config) });
  try {
    await pool.start();
    await pool.load('movenet/1', MOVENET);
    const pixels = Int32Array.from({ length: 192 * 192 * 3 }, (_, i) => (i * 7) % 256);
    // A fresh copy per run: run() moves the buffer to the thread.
    const image = () => [
      { name: 'input:0', dtype: 'int32' as const, shape: [1, 192, 192, 3], data: pixels.slice() },
    ];
    let runs = 0;
    const started = performance.now();
    const until = started + SECONDS * 1000;
    const loop = async () => {
      while (performance.now() < until) {
        // idleThread() and run() in one synchronous step: run() marks the thread busy at once.
        const thread = pool.idleThread();
        if (!thread) throw new Error('no idle thread: every loop should own one');
        await thread.run('movenet/1', image());
        runs++;
      }
    };
    await Promise.all(Array.from({ length: threads }, loop));
    return runs / ((performance.now() - started) / 1000);
  } finally {
    await pool.close();
  }
}

async function main(): Promise<void> {
  const cores = availableParallelism();
  console.log(`inference pool alone (no HTTP), MoveNet [1,192,192,3] on wasm, ${SECONDS} s each`);
  for (let round = 1; round <= 2; round++) {
    const one = await runsPerSecond(1);
    const all = await runsPerSecond(cores);
    console.log(
      `  round ${round}: 1 thread ${one.toFixed(1)} runs/s, ${cores} threads ${all.toFixed(1)} runs/s: ${(all / one).toFixed(2)}x`,
    );
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
