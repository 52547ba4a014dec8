import type { Server } from 'node:http';

export interface ServerTimeouts {
  /** HEADERS_TIMEOUT_MS: longest a connection may take to send a request's headers; 0 = unbounded. */
  headersTimeoutMs: number;
  /** REQUEST_TIMEOUT_MS, which the request guard enforces with a clear 408 once headers are in. */
  requestTimeoutMs: number;
}

/**
 * Node's own clocks for what happens before a request reaches the app, where the request guard
 * cannot see it:
 * - headersTimeout cuts slow headers with 408, a connection that sends nothing included. Node
 *   checks it every connectionsCheckingInterval (30 s by default, read when the server starts
 *   listening), which is why a 60 s default held slow headers for 87 s: the interval is set to a
 *   tenth of the timeout, at most 1 s;
 * - requestTimeout is a backstop after the guard's own 408 (REQUEST_TIMEOUT_MS, counted from the
 *   end of the headers), so it never answers first with Node's bare 408.
 * keepAliveTimeout keeps Node's 5 s: an idle kept-alive connection costs a socket, not a slot.
 * Call before listen().
 */
export function applyServerTimeouts(server: Server, timeouts: ServerTimeouts): void {
  const { headersTimeoutMs, requestTimeoutMs } = timeouts;
  server.headersTimeout = headersTimeoutMs;
  server.requestTimeout = requestTimeoutMs > 0 ? requestTimeoutMs + headersTimeoutMs + 1000 : 0;
  (server as Server & { connectionsCheckingInterval: number }).connectionsCheckingInterval =
    headersTimeoutMs > 0 ? Math.min(1000, Math.max(50, Math.floor(headersTimeoutMs / 10))) : 1000;
}
