import { ServiceUnavailableException } from '@nestjs/common';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { STATUS_CODES } from 'node:http';
import { InferenceError } from '../../errors/inference-error';
import { requestInfoOf } from '../../observability/request-context';
import { isProtocolPath } from '../errors/protocol-error';
import { isOpsPath, LifecycleService } from '../../core/lifecycle/lifecycle.service';

export interface RequestGuardOptions {
  /** Most requests whose body is still arriving (MAX_UPLOADS); 0 = unbounded. */
  maxUploads: number;
  /** Longest silence while a body arrives (BODY_READ_TIMEOUT_MS); 0 = unbounded. */
  bodyReadTimeoutMs: number;
  /** Longest a request may take from arrival to answer; 0 = unbounded. */
  timeoutMs: number;
}

/** Seconds a shed client is told to wait: inferences here take milliseconds, so 1 s is plenty. */
export const RETRY_AFTER_SECONDS = 1;

/** Whether a request counts against MAX_INFLIGHT, and how it gives its slot back (see AdmissionGuard). */
interface Admission {
  closed: boolean;
  release?: () => void;
}

const ADMISSIONS = new WeakMap<Response, Admission>();

/**
 * Counts the request against MAX_INFLIGHT until it is answered, or returns false when MAX_INFLIGHT
 * requests already are. A request the guard never saw, or whose client already left, is let
 * through uncounted: its answer costs nothing to anyone.
 */
export function admit(lifecycle: LifecycleService, res: Response, maxInflight: number): boolean {
  const admission = ADMISSIONS.get(res);
  if (!admission || admission.closed || admission.release) return true;
  if (maxInflight > 0 && lifecycle.admitted >= maxInflight) return false;
  admission.release = lifecycle.admit();
  return true;
}

/** The 503 of a request shed by a bound, with the Retry-After that says when to come back. */
export function busy(res: Response, message: string): ServiceUnavailableException {
  res.setHeader('Retry-After', String(RETRY_AFTER_SECONDS));
  return new ServiceUnavailableException(`${message}; retry after ${RETRY_AFTER_SECONDS} s`);
}

/** Whether the request announces a body (a GET without one is admitted at once). */
function hasBody(req: Request): boolean {
  return (
    req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length']) > 0
  );
}

/** Writes the same JSON error shape as HttpErrorFilter, for answers sent outside Nest's pipeline. */
function sendError(req: Request, res: Response, status: number, message: string): void {
  res.setHeader('Connection', 'close');
  if (isProtocolPath(req.path)) res.status(status).json({ error: message });
  else res.status(status).json({ statusCode: status, error: STATUS_CODES[status], message });
}

/**
 * While the body arrives: counts it against MAX_UPLOADS until its last byte ('end', whatever
 * parser reads it) or its answer, and cuts it with 408 after BODY_READ_TIMEOUT_MS without a byte.
 * The socket's idle timer is the clock: Node refreshes it for every chunk it parses, without a
 * 'data' listener that would steal the body from its parser.
 */
function trackUpload(req: Request, res: Response, release: () => void, idleMs: number): void {
  const onIdle = () => {
    if (res.headersSent) return void req.socket.destroy();
    sendError(
      req,
      res,
      408,
      `No request body bytes received for ${idleMs} ms (BODY_READ_TIMEOUT_MS); send the body without pauses`,
    );
  };
  if (idleMs > 0) {
    req.socket.setTimeout(idleMs);
    req.on('timeout', onIdle);
  }
  req.once('end', () => {
    release();
    if (idleMs === 0) return;
    req.off('timeout', onIdle);
    // Once answered, Node has set the keep-alive timer on this socket: leave it.
    if (!res.writableFinished) req.socket.setTimeout(0);
  });
  res.once('close', release);
}

/**
 * The first gate of every request, before the body is read:
 * - counts it in flight (the in-flight gauge), uploads included;
 * - a request with a body counts as an upload until the body has arrived: past MAX_UPLOADS it is
 *   shed with 503 + Retry-After before a byte of it is read, and it is cut with 408 after
 *   BODY_READ_TIMEOUT_MS without a byte. A slow sender costs a connection, not a MAX_INFLIGHT
 *   slot: those are taken by AdmissionGuard once the body is parsed;
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
    const admission: Admission = { closed: false };
    ADMISSIONS.set(res, admission);
    res.once('close', () => {
      admission.closed = true;
      admission.release?.();
      leave();
      if (!res.writableFinished) abort.abort();
    });
    if (lifecycle.draining) res.setHeader('Connection', 'close');

    if (hasBody(req) && !req.complete) {
      if (options.maxUploads > 0 && lifecycle.uploads >= options.maxUploads) {
        // The body is never read: closing costs less than reading it to keep the connection.
        res.setHeader('Connection', 'close');
        return next(
          busy(
            res,
            `Server busy: ${options.maxUploads} request bodies already arriving (MAX_UPLOADS)`,
          ),
        );
      }
      trackUpload(req, res, lifecycle.startUpload(), options.bodyReadTimeoutMs);
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
