import { ServiceUnavailableException } from '@nestjs/common';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { STATUS_CODES } from 'node:http';
import { InferenceError } from '../inference/inference-error';
import { requestInfoOf } from '../observability/request-context';
import { isProtocolPath } from '../protocols/protocol-error';
import { isOpsPath, LifecycleService } from './lifecycle.service';

export interface RequestGuardOptions {
  /** Most concurrent model-bound requests; 0 = unbounded. */
  maxInflight: number;
  /** Longest a request may take from arrival to answer; 0 = unbounded. */
  timeoutMs: number;
}

/** Seconds a shed client is told to wait: inferences here take milliseconds, so 1 s is plenty. */
export const RETRY_AFTER_SECONDS = 1;

/** Writes the same JSON error shape as HttpErrorFilter, for answers sent outside Nest's pipeline. */
function sendError(req: Request, res: Response, status: number, message: string): void {
  res.setHeader('Connection', 'close');
  if (isProtocolPath(req.path)) res.status(status).json({ error: message });
  else res.status(status).json({ statusCode: status, error: STATUS_CODES[status], message });
}

/**
 * The first gate of every request, before the body is read:
 * - counts it in flight (for MAX_INFLIGHT and the in-flight gauge);
 * - sheds it with 503 + Retry-After when MAX_INFLIGHT model-bound requests are already running,
 *   so overload costs a few microseconds instead of a queue of parsed bodies;
 * - bounds its time with REQUEST_TIMEOUT_MS: 408 if the client has not finished sending the body
 *   (slow upload), else 504, while the request waits in a queue or runs in an inference thread
 *   (the main thread is free, so the timer fires on time); its queued inference is then dropped;
 * - aborts its inference when the client leaves, so a queued request nobody waits for never runs;
 * - while draining, asks keep-alive clients to reconnect elsewhere (Connection: close).
 */
export function requestGuard(
  lifecycle: LifecycleService,
  options: RequestGuardOptions,
): RequestHandler {
  return (req: Request, res: Response, next: NextFunction) => {
    const ops = isOpsPath(req.path);
    const leave = lifecycle.enter(ops);
    const abort = new AbortController();
    requestInfoOf(res).abort = abort;
    res.once('close', () => {
      leave();
      if (!res.writableFinished) abort.abort();
    });
    if (lifecycle.draining) res.setHeader('Connection', 'close');

    if (!ops && options.maxInflight > 0 && lifecycle.modelInflight > options.maxInflight) {
      res.setHeader('Retry-After', String(RETRY_AFTER_SECONDS));
      return next(
        new ServiceUnavailableException(
          `Server busy: ${options.maxInflight} requests already in flight (MAX_INFLIGHT); retry after ${RETRY_AFTER_SECONDS} s`,
        ),
      );
    }

    if (options.timeoutMs > 0) {
      const timer = setTimeout(() => {
        if (res.headersSent) return;
        if (!req.complete) {
          sendError(
            req,
            res,
            408,
            `Request body not received within ${options.timeoutMs} ms (REQUEST_TIMEOUT_MS)`,
          );
        } else {
          const message = `Request not answered within ${options.timeoutMs} ms (REQUEST_TIMEOUT_MS), time in the queue included`;
          abort.abort(new InferenceError('DEADLINE_EXCEEDED', message));
          sendError(req, res, 504, message);
        }
      }, options.timeoutMs);
      res.once('close', () => clearTimeout(timer));
    }
    next();
  };
}
