import {
  BadRequestException,
  HttpException,
  PayloadTooLargeException,
  UnsupportedMediaTypeException,
} from '@nestjs/common';
import { raw, NextFunction, Request, RequestHandler, Response } from 'express';
import { checkJsonLimits, JsonLimits } from './json-limits';
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

const describeJson = (value: unknown): string => {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return `a ${typeof value}`;
};

/** NaN/Infinity literals outside strings are the usual cause worth a hint; anything else is not. */
const NON_STANDARD_NUMBER = /(^|[\s,:[])-?(NaN|Infinity)\b/;

/**
 * Parses `bytes` as a JSON object after checking them against the depth/element limits (one
 * pass over the raw bytes, before JSON.parse allocates anything). Every error names what was
 * wrong: the parser's own message (it names the token and where), the end of the body when it
 * stops early, a NaN/Infinity hint only when the body holds such a literal, and the type of a
 * body that parsed but is not an object.
 */
export function parseJsonObject(bytes: Buffer, limits: JsonLimits | undefined, what = 'body') {
  if (limits) checkJsonLimits(bytes, limits);
  let text = bytes.toString('utf8');
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    let message = `Malformed JSON ${what}: ${(error as Error).message}`;
    const position = /at position (\d+)/.exec(message)?.[1];
    if (/Unexpected end/.test(message) || Number(position) === text.length) {
      message += ` (the ${what} ends at byte ${bytes.length} before the JSON is complete)`;
    }
    if (NON_STANDARD_NUMBER.test(text)) {
      message += '; NaN and Infinity are not valid JSON numbers';
    }
    throw new BadRequestException(`${message}. Expected a JSON object`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new BadRequestException(
      `The request ${what} must be a JSON object, got ${describeJson(value)}`,
    );
  }
  return value as Record<string, unknown>;
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

function splitFramed(req: Request, body: Buffer, framed: FramedBody, limits?: JsonLimits) {
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
  req.body = length > 0 ? parseJsonObject(body.subarray(0, length), limits, 'header') : {};
  (req as WithTail)[BINARY_TAIL] = { bytes: body.subarray(length), headerless: length === 0 };
}

/**
 * One body parser for every route, scoped by what the request is:
 * - no body: nothing to do;
 * - multipart/form-data: left untouched where a multipart parser handles it
 *   (`multipartPaths`), a 415 naming what is accepted elsewhere;
 * - the framed form (`framed.header` on a `framed.route` path): the JSON header is parsed and
 *   limit-checked as JSON, the bytes after it are kept aside (see binaryTailOf) and never parsed
 *   nor counted as JSON elements;
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
        if (framed && req.headers[framed.header] !== undefined && framed.route.test(req.path)) {
          splitFramed(req, body, framed, limits);
        } else if (body.length === 0) {
          // An empty body is an empty object, as Express's JSON parser has it: the DTO then says
          // which fields are missing.
          req.body = {};
        } else if (parsePool && body.length >= offThreadBytes) {
          checkCharset(req);
          parsePool.parse(body, limits).then((value) => {
            req.body = value;
            next();
          }, next);
          return;
        } else {
          checkCharset(req);
          req.body = parseJsonObject(body, limits);
        }
        next();
      } catch (failure) {
        next(failure);
      }
    });
  };
  return [parse];
}
