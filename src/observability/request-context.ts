import type { Response } from 'express';
import { RequestScope, runInRequestScope } from '../core/request-scope';

/** What the observability layer learns about one request while it is served. */
export interface RequestInfo extends RequestScope {
  /** process.hrtime.bigint() when the request arrived. */
  startedAt: bigint;
  /** Route label, worked out once when the request ends (see routeOf). */
  route?: string;
}

/** Status recorded for a request the client abandoned before it was answered (nginx's 499). */
const CLIENT_CLOSED = 499;

/** The status a finished request is logged and counted with. */
export function answeredStatus(res: Response): number {
  return res.headersSent ? res.statusCode : CLIENT_CLOSED;
}

/** The info of the request being served, attached to its response by the first middleware. */
export function requestInfoOf(res: Response): RequestInfo {
  const locals = res.locals as { requestInfo?: RequestInfo };
  locals.requestInfo ??= { startedAt: process.hrtime.bigint() };
  return locals.requestInfo;
}

/**
 * Runs the rest of a request's handling with its RequestInfo as the request's scope (see
 * core/request-scope). Installed after the body parser: stream callbacks do not carry the
 * context of the middleware before.
 */
export function runWithRequestInfo(res: Response, next: () => void): void {
  runInRequestScope(requestInfoOf(res), next);
}

/** Runs `fn` with `info` as the current request's scope: for calls without an Express response (gRPC). */
export function runWithInfo<T>(info: RequestInfo, fn: () => T): T {
  return runInRequestScope(info, fn);
}
