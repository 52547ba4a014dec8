import { AsyncLocalStorage } from 'node:async_hooks';
import type { Response } from 'express';

/** What the observability layer learns about one request while it is served. */
export interface RequestInfo {
  /** process.hrtime.bigint() when the request arrived. */
  startedAt: bigint;
  /** Set by the model layer (ModelService.infer) once a loaded model was picked. */
  model?: string;
  version?: string;
  /** Route label, worked out once when the request ends (see routeOf). */
  route?: string;
  /** Aborted when the client leaves or the deadline passes: queued inference is then dropped. */
  abort?: AbortController;
}

/** Status recorded for a request the client abandoned before it was answered (nginx's 499). */
const CLIENT_CLOSED = 499;

/** The status a finished request is logged and counted with. */
export function answeredStatus(res: Response): number {
  return res.headersSent ? res.statusCode : CLIENT_CLOSED;
}

const storage = new AsyncLocalStorage<RequestInfo>();

/** The info of the request being served, attached to its response by the first middleware. */
export function requestInfoOf(res: Response): RequestInfo {
  const locals = res.locals as { requestInfo?: RequestInfo };
  locals.requestInfo ??= { startedAt: process.hrtime.bigint() };
  return locals.requestInfo;
}

/**
 * Runs the rest of a request's handling with its RequestInfo in async context, so code that
 * never sees the request (ModelService.infer, shared by every protocol) can label it. Installed
 * after the body parser: stream callbacks do not carry the context of the middleware before.
 */
export function runWithRequestInfo(res: Response, next: () => void): void {
  storage.run(requestInfoOf(res), next);
}

/** Runs `fn` with `info` as the current request's (for requests that have no Express response: gRPC calls). */
export function runWithInfo<T>(info: RequestInfo, fn: () => T): T {
  return storage.run(info, fn);
}

/** Records which model served the current request (no-op outside a request, e.g. warm-up). */
export function annotateRequestModel(model: string, version: number | string): void {
  const info = storage.getStore();
  if (info) {
    info.model = model;
    info.version = String(version);
  }
}

/** The current request's abort signal, if any (undefined outside a request). */
export function currentRequestSignal(): AbortSignal | undefined {
  return storage.getStore()?.abort?.signal;
}
