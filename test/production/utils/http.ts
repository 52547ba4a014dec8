import { request as httpRequest, IncomingHttpHeaders } from 'node:http';
import type { NestExpressApplication } from '@nestjs/platform-express';
import type { AddressInfo } from 'node:net';

export interface RawResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

/** Listens on an ephemeral loopback port and returns the base URL. */
export async function listenOnLoopback(app: NestExpressApplication): Promise<string> {
  await app.listen(0, '127.0.0.1');
  const { port } = app.getHttpServer().address() as AddressInfo;
  return `http://127.0.0.1:${port}`;
}

/**
 * A request whose body is sent in two parts: `sent` first, the rest when finish() is called.
 * While the rest is held back the server has a request truly in flight (waiting for its body),
 * which is how the tests make a "slow request" without any test-only code in the server.
 */
export function partialRequest(
  baseUrl: string,
  path: string,
  body: string,
  sent = Math.floor(body.length / 2),
) {
  const url = new URL(path, baseUrl);
  const req = httpRequest({
    host: url.hostname,
    port: url.port,
    path: url.pathname,
    method: 'POST',
    agent: false,
    headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
  });
  const response = new Promise<RawResponse>((resolve, reject) => {
    req.on('response', (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }),
      );
      res.on('error', reject);
    });
    req.on('error', reject);
  });
  // Swallow a rejection nobody awaits (e.g. a test expecting the connection to be cut).
  response.catch(() => undefined);
  req.flushHeaders();
  // Resolves once the headers and the first part are handed to the kernel: the connection is
  // established and its bytes are on their way, whether or not the server has read them.
  const written = new Promise<void>((resolve) => req.write(body.slice(0, sent), () => resolve()));
  return {
    response,
    written,
    finish: () => {
      req.end(body.slice(sent));
      return response;
    },
    abort: () => req.destroy(),
  };
}

/**
 * Resolves once `condition` holds, polling every 10 ms, or rejects after `timeoutMs`. The bound
 * only stops a broken test: it is never the assertion, so it is generous (a loaded 2-core
 * machine took seconds to handle a signal).
 */
export async function waitFor(
  condition: () => boolean | Promise<boolean>,
  timeoutMs = 20_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** The value of one sample in Prometheus text output (labels given as an exact `{a="b",...}` match). */
export function metricValue(
  text: string,
  name: string,
  labels: Record<string, string> = {},
): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const match = /^([a-zA-Z_:][\w:]*)(\{(.*)\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const found = Object.fromEntries(
      [...(match[3] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((m) => [m[1], m[2]]),
    );
    if (Object.entries(labels).every(([key, value]) => found[key] === value))
      return Number(match[4]);
  }
  return undefined;
}

export const IRIS_BODY = JSON.stringify({ model: 'iris', instances: [[5.1, 3.5, 1.4, 0.2]] });
