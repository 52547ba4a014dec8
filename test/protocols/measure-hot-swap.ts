/**
 * Measures hot swaps under sustained load on the real server (not a Jest spec):
 *
 *   npx ts-node test/protocols/measure-hot-swap.ts
 *
 * Starts `src/main.ts` on 127.0.0.1 with MODEL_POLL_SECONDS=0.5 over a temporary repository
 * holding iris/1, runs autocannon (16 connections, 15 s) on POST /v2/models/iris/infer, and
 * meanwhile renames iris/2, then iris/3, then iris/4 into the repository (removing old folders
 * in between). Prints failed requests and how long each new version took to answer.
 */
import autocannon from 'autocannon';
import { spawn } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const MAIN = join(__dirname, '..', '..');
const root = mkdtempSync(join(tmpdir(), 'swap-measure-'));
const PORT = 18000 + Math.floor(Math.random() * 1000);
const base = `http://127.0.0.1:${PORT}`;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Copies a shipped version under a temporary name and renames it in; returns when. */
function drop(version: number, shipped: string): number {
  const staging = join(root, 'iris', `.incoming-${version}`);
  cpSync(join(MAIN, 'models', shipped), staging, { recursive: true });
  renameSync(staging, join(root, 'iris', String(version)));
  return Date.now();
}

async function waitFor(check: () => Promise<boolean>, ms = 20000): Promise<number> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await check().catch(() => false)) return Date.now();
    await sleep(20);
  }
  throw new Error(`timed out after ${ms} ms`);
}

const latest = async () =>
  ((await (await fetch(`${base}/v2/models/iris`)).json()) as { versions: string[] }).versions[0];

async function main(): Promise<void> {
  mkdirSync(join(root, 'iris'));
  drop(1, 'iris/1');
  const server = spawn('node', ['-r', 'ts-node/register/transpile-only', 'src/main.ts'], {
    cwd: MAIN,
    env: {
      ...process.env,
      PORT: String(PORT),
      GRPC_PORT: '0',
      HOST: '127.0.0.1',
      MODEL_DIR: root,
      MODEL_POLL_SECONDS: '0.5',
      LOG_LEVEL: 'warn',
      SHUTDOWN_DELAY_MS: '0',
    },
    stdio: 'inherit',
  });
  try {
    await waitFor(async () => (await fetch(`${base}/v2/health/ready`)).status === 200, 60000);
    const load = autocannon({
      url: `${base}/v2/models/iris/infer`,
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        inputs: [{ name: 'features', shape: [1, 4], datatype: 'FP32', data: [5.1, 3.5, 1.4, 0.2] }],
      }),
      connections: 16,
      duration: 15,
    });
    const swaps: Record<string, number> = {};
    const swap = async (version: number, shipped: string) => {
      await sleep(3000);
      const dropped = drop(version, shipped);
      swaps[`to v${version} (ms)`] =
        (await waitFor(async () => (await latest()) === String(version))) - dropped;
    };
    await swap(2, 'iris/2');
    await swap(3, 'iris/1');
    rmSync(join(root, 'iris', '1'), { recursive: true });
    rmSync(join(root, 'iris', '2'), { recursive: true });
    await swap(4, 'iris/2');
    const result = await load;
    console.log({
      requests: result.requests.total,
      non2xx: result.non2xx,
      errors: result.errors,
      timeouts: result.timeouts,
      requestsPerSecond: result.requests.average,
      latencyMs: { p50: result.latency.p50, p99: result.latency.p99, max: result.latency.max },
      ...swaps,
    });
  } finally {
    server.kill('SIGTERM');
    await sleep(1000);
    rmSync(root, { recursive: true, force: true });
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
