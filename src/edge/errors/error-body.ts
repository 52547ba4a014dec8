import type { Request, Response } from 'express';
import { STATUS_CODES } from 'node:http';

/** An answer to send instead of a result: its HTTP status and a message meant for the client. */
export interface HttpError {
  status: number;
  message: string;
}

/** The HTTP protocols served, each with its own error body. */
export type HttpProtocol = 'native' | 'tfserving' | 'v2';

/** Nest's own shape, which every native endpoint (/predict, /models, /health...) answers with. */
export function nativeErrorBody({ status, message }: HttpError) {
  return { statusCode: status, error: STATUS_CODES[status] ?? 'Error', message };
}

/** TF Serving's REST API and the Open Inference Protocol both answer `{"error": "<message>"}`. */
export function errorOnlyBody({ message }: HttpError) {
  return { error: message };
}

/** The one place that shapes an error body, by protocol. */
export const ERROR_BODY_WRITERS: Record<HttpProtocol, (error: HttpError) => object> = {
  native: nativeErrorBody,
  tfserving: errorOnlyBody,
  v2: errorOnlyBody,
};

/**
 * The protocol a path belongs to. Chosen by path, not by controller, so that errors raised
 * before routing (malformed JSON, a body too large, the request guard's timeouts) get their
 * protocol's shape too.
 */
export function protocolOfPath(path: string): HttpProtocol {
  if (/^\/v1(\/|$)/.test(path)) return 'tfserving';
  if (/^\/v2(\/|$)/.test(path)) return 'v2';
  return 'native';
}

/** Answers `error` with the body of the request's protocol. */
export function sendHttpError(req: Request, res: Response, error: HttpError): void {
  res.status(error.status).json(ERROR_BODY_WRITERS[protocolOfPath(req.path)](error));
}
