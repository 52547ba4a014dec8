import { ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

export const MAIN_JS = join(__dirname, '..', '..', 'dist', 'main.js');

export interface ProcessResult {
  code: number | null;
  output: string;
  elapsedMs: number;
}

function requireBuild(): void {
  if (!existsSync(MAIN_JS))
    throw new Error(`${MAIN_JS} is missing: run npm run build (npm test does it)`);
}

/** Starts the production entry (`node dist/main.js [args]`) with the given environment, on loopback. */
export function startServer(env: Record<string, string>, args: string[] = []): ChildProcess {
  requireBuild();
  return spawn(process.execPath, [MAIN_JS, ...args], {
    // GRPC_PORT 0 (off) unless a test asks: Triton's 8001 would collide between parallel tests.
    env: { PATH: process.env.PATH, HOST: '127.0.0.1', PORT: '0', GRPC_PORT: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

/** Runs the server until it exits by itself (or `timeoutMs` passes, then kills it). */
export function runUntilExit(
  env: Record<string, string>,
  timeoutMs = 20_000,
  args: string[] = [],
): Promise<ProcessResult> {
  const started = Date.now();
  const child = startServer(env, args);
  let output = '';
  child.stdout!.on('data', (chunk) => (output += chunk));
  child.stderr!.on('data', (chunk) => (output += chunk));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  // 'close', not 'exit': it comes after the output pipes are drained, so no last line is missed.
  return new Promise((resolve) =>
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, output, elapsedMs: Date.now() - started });
    }),
  );
}

/** Waits until the server logs the address it listens on and returns its base URL. */
export function waitForListening(child: ChildProcess, timeoutMs = 20_000): Promise<string> {
  return new Promise((resolve, reject) => {
    let output = '';
    const timer = setTimeout(
      () => reject(new Error(`server did not start:\n${output}`)),
      timeoutMs,
    );
    const onData = (chunk: Buffer) => {
      output += chunk;
      const match = /Listening on (http:\/\/[\d.]+:\d+)/.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.on('exit', (code) => reject(new Error(`server exited with ${code}:\n${output}`)));
  });
}
