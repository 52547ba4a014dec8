import { ServiceUnavailableException } from '@nestjs/common';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { STATUS_CODES } from 'node:http';
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
function sendError(res: Response, status: number, message: string): void {
  res.setHeader('Connection', 'close');
  res.status(status).json({ statusCode: status, error: STATUS_CODES[status], message });
}

/**
 * The first gate of every request, before the body is read:
 * - counts it in flight (draining waits for this count to reach zero);
 * - sheds it with 503 + Retry-After when MAX_INFLIGHT model-bound requests are already running,
 *   so overload costs a few microseconds instead of a queue of parsed bodies;
 * - bounds its time with REQUEST_TIMEOUT_MS: 408 if the client has not finished sending the body
 *   (slow upload), else 503. Inference runs on the JS thread, so the timer can only fire between
 *   two steps of a request, never in the middle of a model run;
 * - while draining, asks keep-alive clients to reconnect elsewhere (Connection: close).
 */
export function requestGuard(
  lifecycle: LifecycleService,
  options: RequestGuardOptions,
): RequestHandler {
  return (req: Request, res: Response, next: NextFunction) => {
    const ops = isOpsPath(req.path);
    const leave = lifecycle.enter(ops);
    res.once('close', leave);
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
            res,
            408,
            `Request body not received within ${options.timeoutMs} ms (REQUEST_TIMEOUT_MS)`,
          );
        } else {
          sendError(
            res,
            503,
            `Request not answered within ${options.timeoutMs} ms (REQUEST_TIMEOUT_MS)`,
          );
        }
      }, options.timeoutMs);
      res.once('close', () => clearTimeout(timer));
    }
    next();
  };
}
