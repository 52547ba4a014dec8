import type { ChildProcess } from 'node:child_process';
import { get as httpGet } from 'node:http';
import { startServer, waitForListening } from '../../utils/server-process';
import { SHIPPED_MODELS } from '../../utils/test-app';
import { waitFor } from './http';

export interface RunningServer {
  child: ChildProcess;
  url: string;
  /** Everything the process wrote so far (stdout and stderr). */
  output: () => string;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Kills it if still running (test cleanup). */
  stop: () => void;
}

// For servers whose log level hides the "Listening" line.
export { freePort } from '../../../scripts/lib/server';

/**
 * Starts `node dist/main.js` on loopback with the shipped models and waits until it listens:
 * from its "Listening on" log line, or, when env.PORT is set, by polling readiness.
 */
export async function runServer(env: Record<string, string> = {}): Promise<RunningServer> {
  const child = startServer({ MODEL_DIR: SHIPPED_MODELS, ...env });
  let output = '';
  child.stdout!.on('data', (chunk) => (output += chunk));
  child.stderr!.on('data', (chunk) => (output += chunk));
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    // 'close' comes after the output pipes are drained: output() then holds the last lines.
    child.on('close', (code, signal) => resolve({ code, signal })),
  );
  const url = env.PORT ? `http://127.0.0.1:${env.PORT}` : await waitForListening(child);
  if (env.PORT) {
    await waitFor(
      () =>
        getFresh(`${url}/health/ready`).then(
          (r) => r.status === 200,
          () => false,
        ),
      20_000,
    );
  }
  return {
    child,
    url,
    output: () => output,
    exit,
    stop: () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    },
  };
}

/** A GET on a fresh connection (no keep-alive pool), so "connection refused" is observable. */
export function getFresh(url: string, timeoutMs = 2000): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpGet(url, { agent: false, timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

/** The JSON log lines written so far (non-JSON lines are skipped). */
export function jsonLines(output: string): Record<string, unknown>[] {
  return output
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}
