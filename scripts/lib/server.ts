import { ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { join } from 'node:path';

export const ROOT = join(__dirname, '..', '..');

/** A loopback port that was free a moment ago (for servers started on a fixed port). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.on('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      probe.close(() => resolve(port));
    });
  });
}

export interface RunningServer {
  child: ChildProcess;
  url: string;
  stop(): Promise<void>;
}

/** Resolves with the first capture of `pattern` in the child's output; the rest is discarded. */
function waitForLine(child: ChildProcess, pattern: RegExp, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let output = '';
    const onData = (chunk: Buffer) => {
      output += chunk;
      const match = pattern.exec(output);
      if (!match) return;
      clearTimeout(timer);
      // Keep draining the pipes: a full pipe would block the server's request logging.
      child.stdout?.off('data', onData).resume();
      child.stderr?.off('data', onData).resume();
      resolve(match[1]);
    };
    const timer = setTimeout(
      () => reject(new Error(`not ready after ${timeoutMs} ms:\n${output}`)),
      timeoutMs,
    );
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', (code) =>
      reject(new Error(`exited with ${code} before it was ready:\n${output}`)),
    );
  });
}

function stopper(child: ChildProcess): () => Promise<void> {
  return () =>
    new Promise((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      child.once('exit', () => resolve());
      child.kill('SIGTERM');
      setTimeout(() => child.kill('SIGKILL'), 10_000).unref();
    });
}

/**
 * Starts the built server (`node dist/main.js`) on a free loopback port; `root` names another
 * checkout's build (a benchmark comparing two commits side by side).
 */
export async function startModelServer(
  env: Record<string, string> = {},
  root = ROOT,
): Promise<RunningServer> {
  const child = spawn(process.execPath, [join(root, 'dist', 'main.js')], {
    env: {
      ...process.env,
      HOST: '127.0.0.1',
      PORT: '0',
      GRPC_PORT: '0',
      MODEL_DIR: join(ROOT, 'models'),
      // No load balancer to wait for: stop() should not sit out the Kubernetes-sized delay.
      SHUTDOWN_DELAY_MS: '0',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const url = await waitForLine(child, /Listening on (http:\/\/[\d.]+:\d+)/, 60_000);
  return { child, url, stop: stopper(child) };
}

/** Starts any other HTTP server command and waits until `readyUrl` answers. */
export async function startCommand(
  command: string,
  args: string[],
  readyUrl: string,
): Promise<RunningServer> {
  const child = spawn(command, args, { stdio: ['ignore', 'ignore', 'inherit'] });
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`${command} exited with ${child.exitCode}`);
    const up = await fetch(readyUrl).then(
      () => true,
      () => false,
    );
    if (up) return { child, url: new URL(readyUrl).origin, stop: stopper(child) };
    await new Promise((r) => setTimeout(r, 200));
  }
  child.kill('SIGKILL');
  throw new Error(`${command} did not answer ${readyUrl} within 30 s`);
}
