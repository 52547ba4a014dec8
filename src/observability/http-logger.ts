import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Request, Response } from 'express';
import pino, { Logger } from 'pino';
import { pinoHttp, HttpLogger } from 'pino-http';
import { AppConfig } from '../config/app-config';
import { logDestination, logOutputFor } from './boot-logger';
import { answeredStatus, requestInfoOf } from './request-context';
import { routeOf } from './route-label';

export const REQUEST_ID_HEADER = 'x-request-id';
/** An incoming id is reused only if it is short and plain, so it cannot forge log lines. */
const SAFE_REQUEST_ID = /^[\w.:@-]{1,128}$/;

const roots = new WeakMap<AppConfig, Logger>();

/** One root pino logger per app configuration, shared by the request logs and Nest's own logs. */
export function rootLogger(config: AppConfig): Logger {
  let logger = roots.get(config);
  if (!logger) {
    logger = pino(
      { level: config.LOG_LEVEL, base: { pid: process.pid } },
      logDestination(logOutputFor(config.LOG_FORMAT)),
    );
    roots.set(config, logger);
  }
  return logger;
}

/** The client's request id when it is well-formed, else a new one (HTTP header or gRPC metadata). */
export function requestIdFrom(incoming: unknown): string {
  return typeof incoming === 'string' && SAFE_REQUEST_ID.test(incoming) ? incoming : randomUUID();
}

/** Reuses a well-formed X-Request-Id, else makes one; echoes it on the response either way. */
export function requestId(req: IncomingMessage, res: ServerResponse): string {
  const id = requestIdFrom(req.headers[REQUEST_ID_HEADER]);
  res.setHeader('X-Request-Id', id);
  return id;
}

/** The one line logged per request. Bodies and headers are never logged: tensors stay out of logs. */
function requestLine(req: IncomingMessage, res: ServerResponse, responseTime: number) {
  const info = requestInfoOf(res as Response);
  return {
    method: req.method,
    route: routeOf(req as Request, res as Response),
    model: info.model,
    version: info.version,
    status: answeredStatus(res as Response),
    durationMs: responseTime,
  };
}

/**
 * 503 (model not ready, load shed, draining) and 504 (deadline) are the server saying "not now",
 * by design and under control: worth a warning, not an error page for the on-call. Any other 5xx,
 * or an error thrown while answering, is a fault.
 */
export function logLevelOf(status: number, error?: unknown): 'error' | 'warn' | 'info' {
  if (status === 503 || status === 504) return 'warn';
  if (error || status >= 500) return 'error';
  return 'info';
}

/**
 * pino-http as the first Express middleware, so that requests refused before routing (bad body,
 * shed, timeout) are logged too. `reqId` is bound to every log line written during the request.
 */
export function httpLogger(config: AppConfig): HttpLogger {
  return pinoHttp({
    logger: rootLogger(config),
    genReqId: requestId,
    quietReqLogger: true,
    quietResLogger: true,
    customLogLevel: (_req, res, error) => logLevelOf(res.statusCode, error),
    customSuccessMessage: () => 'request completed',
    customErrorMessage: () => 'request failed',
    customSuccessObject: (req, res, value: { responseTime: number }) =>
      requestLine(req, res, value.responseTime),
    customErrorObject: (req, res, error, value: { responseTime: number }) => ({
      ...requestLine(req, res, value.responseTime),
      err: { type: error.name, message: error.message },
    }),
  });
}
