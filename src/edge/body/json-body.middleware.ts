import {
  BadRequestException,
  HttpException,
  PayloadTooLargeException,
  UnsupportedMediaTypeException,
} from '@nestjs/common';
import { raw, NextFunction, Request, RequestHandler, Response } from 'express';
import { JsonLimits } from './json-limits';
import { parseJsonBody } from './json-parse';
import type { JsonParsePool } from './json-parse-pool';

/** What Express's body parser attaches to the errors it raises. */
interface BodyParserError extends Error {
  type?: string;
  status?: number;
  limit?: number;
  length?: number;
}

function toClientError(error: BodyParserError): HttpException | BodyParserError {
  if (error instanceof HttpException) return error;
  switch (error.type) {
    case 'entity.too.large':
      return new PayloadTooLargeException(
        `Request body of ${error.length} bytes is over the limit of ${error.limit} bytes (BODY_LIMIT)`,
      );
    case 'encoding.unsupported':
      return new UnsupportedMediaTypeException(`${error.message}; send gzip, deflate or identity`);
    default:
      return error.status && error.status < 500
        ? new HttpException(error.message, error.status)
        : error;
  }
}

/**
 * A body made of a JSON header followed by raw bytes, the header's length given in a request
 * header (the V2 binary tensor extension's `Inference-Header-Content-Length`). Only requests
 * carrying `header` on a path matching `route` are read this way.
 */
export interface FramedBody {
  header: string;
  route: RegExp;
}

export interface BodyOptions {
  /** BODY_LIMIT: applies to the whole body, JSON or framed. */
  limit: string;
  limits?: JsonLimits;
  framed?: FramedBody;
  /** Paths whose multipart/form-data bodies are left to a parser of their own. */
  multipartPaths?: string[];
  /** Parses JSON bodies of at least `offThreadBytes` off the main thread. */
  parsePool?: JsonParsePool;
  offThreadBytes?: number;
}

/**
 * From this size on a JSON body is parsed by the parse pool: below it, parsing here (~0.2 ms for
 * 16 KiB of numbers) costs less than the round trip to a thread.
 */
export const OFF_THREAD_BYTES = 16 * 1024;

/** The bytes after the JSON header of a framed body, and whether the header was empty (length 0). */
export interface BinaryTail {
  bytes: Buffer;
  headerless: boolean;
}

const BINARY_TAIL = Symbol('binaryTail');
type WithTail = Request & { [BINARY_TAIL]?: BinaryTail };

/** The binary part of a framed body, or undefined when the request was plain JSON. */
export function binaryTailOf(req: Request): BinaryTail | undefined {
  return (req as WithTail)[BINARY_TAIL];
}

function checkCharset(req: Request): void {
  const match = /;\s*charset\s*=\s*"?([^";\s]+)/i.exec(req.headers['content-type'] ?? '');
  const charset = match?.[1].toLowerCase();
  if (charset !== undefined && charset !== 'utf-8' && charset !== 'utf8') {
    throw new UnsupportedMediaTypeException(
      `Charset ${charset.toUpperCase()} is not supported; send UTF-8 JSON`,
    );
  }
}

/** The JSON header's bytes of a framed body; the bytes after it are kept aside (binaryTailOf). */
function splitFramed(req: Request, body: Buffer, framed: FramedBody): Buffer {
  const value = String(req.headers[framed.header]).trim();
  const length = /^\d+$/.test(value) ? Number(value) : NaN;
  if (!Number.isSafeInteger(length)) {
    throw new BadRequestException(
      `${framed.header}: expected the length in bytes of the JSON header (a non-negative integer), got "${value.slice(0, 40)}"`,
    );
  }
  if (length > body.length) {
    throw new BadRequestException(
      `${framed.header} ${length} is beyond the body of ${body.length} bytes; expected the length of the JSON header at the start of the body`,
    );
  }
  (req as WithTail)[BINARY_TAIL] = { bytes: body.subarray(length), headerless: length === 0 };
  return body.subarray(0, length);
}

/**
 * One body parser for every route, scoped by what the request is:
 * - no body: nothing to do;
 * - multipart/form-data: left untouched where a multipart parser handles it
 *   (`multipartPaths`), a 415 naming what is accepted elsewhere;
 * - the framed form (`framed.header` on a `framed.route` path): the JSON header is parsed and
 *   limit-checked as JSON, the bytes after it are kept aside (see binaryTailOf) and never parsed
 *   nor counted as JSON elements;
 * - JSON (a body or a framed header) of `offThreadBytes` or more is parsed by the parse pool,
 *   smaller JSON here: the same checks, values and refusals either way (parseJsonBody);
 * - anything else is parsed as a JSON object whatever its Content-Type, or with none: TF Serving
 *   does the same, and `curl -d` sends application/x-www-form-urlencoded.
 * BODY_LIMIT bounds the whole body in every case, before anything is parsed.
 */
export function jsonBody(options: BodyOptions): RequestHandler[] {
  const { limit, limits, framed, multipartPaths = [], parsePool } = options;
  const offThreadBytes = options.offThreadBytes ?? OFF_THREAD_BYTES;
  const read = raw({ type: () => true, limit });
  const parse = (req: Request, res: Response, next: NextFunction) => {
    if (req.is('multipart/form-data')) {
      if (multipartPaths.includes(req.path)) return next();
      return next(
        new UnsupportedMediaTypeException(
          `multipart/form-data is not accepted on ${req.path}; send a JSON object (any Content-Type but multipart)` +
            (framed ? `, or on V2 infer a JSON header + binary data with ${framed.header}` : ''),
        ),
      );
    }
    read(req, res, (error?: unknown) => {
      if (error) return next(toClientError(error as BodyParserError));
      const body = req.body as unknown;
      if (!Buffer.isBuffer(body)) return next();
      try {
        let json = body;
        let what = 'body';
        if (framed && req.headers[framed.header] !== undefined && framed.route.test(req.path)) {
          // A copy: posted to a parse thread, a view would take the binary data along.
          json = Buffer.from(splitFramed(req, body, framed));
          what = 'header';
        } else if (body.length > 0) {
          checkCharset(req);
        }
        if (json.length === 0) {
          // An empty body is an empty object, as Express's JSON parser has it: the DTO then says
          // which fields are missing.
          req.body = {};
        } else if (parsePool && json.length >= offThreadBytes) {
          parsePool.parse(json, limits, what).then((value) => {
            req.body = value;
            next();
          }, next);
          return;
        } else {
          req.body = parseJsonBody(json, limits, what);
        }
        next();
      } catch (failure) {
        next(failure);
      }
    });
  };
  return [parse];
}
