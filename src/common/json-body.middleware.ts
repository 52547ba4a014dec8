import {
  BadRequestException,
  HttpException,
  PayloadTooLargeException,
  UnsupportedMediaTypeException,
} from '@nestjs/common';
import { json, NextFunction, Request, RequestHandler, Response } from 'express';
import { checkJsonLimits, JsonLimits } from './json-limits';

/** What Express's body parser attaches to the errors it raises. */
interface BodyParserError extends Error {
  type?: string;
  status?: number;
  limit?: number;
  length?: number;
}

function toClientError(error: BodyParserError): HttpException | BodyParserError {
  // Thrown by checkJsonLimits in `verify`; already a client error with its message.
  if (error instanceof HttpException) return error;
  switch (error.type) {
    case 'entity.parse.failed':
      return new BadRequestException(
        `Malformed JSON body: ${error.message}. Expected a JSON object; NaN and Infinity are not valid JSON numbers`,
      );
    case 'entity.too.large':
      return new PayloadTooLargeException(
        `Request body of ${error.length} bytes is over the limit of ${error.limit} bytes (BODY_LIMIT)`,
      );
    case 'encoding.unsupported':
    case 'charset.unsupported':
      return new UnsupportedMediaTypeException(`${error.message}; send UTF-8 JSON`);
    default:
      return error.status && error.status < 500
        ? new HttpException(error.message, error.status)
        : error;
  }
}

/**
 * Parses JSON bodies up to `limit`, refuses other content types on requests that carry a
 * body, and turns the parser's errors into clear 4xx HttpExceptions for the global filter.
 */
export function jsonBody(limit: string, limits?: JsonLimits): RequestHandler[] {
  const rejectNonJson = (req: Request, _res: Response, next: NextFunction) => {
    const hasBody =
      Number(req.headers['content-length'] ?? 0) > 0 ||
      req.headers['transfer-encoding'] !== undefined;
    if (hasBody && !req.is(['application/json', '+json'])) {
      return next(
        new UnsupportedMediaTypeException(
          `Content-Type ${req.headers['content-type'] ?? '(none)'} is not supported; send application/json`,
        ),
      );
    }
    next();
  };
  // `verify` sees the raw bytes before JSON.parse: hostile depth/size is refused without parsing.
  const verify = limits
    ? (_req: unknown, _res: unknown, body: Buffer) => checkJsonLimits(body, limits)
    : undefined;
  const parse = json({ limit, verify });
  const parseOrExplain = (req: Request, res: Response, next: NextFunction) =>
    parse(req, res, (error?: unknown) =>
      next(error ? toClientError(error as BodyParserError) : undefined),
    );
  return [rejectNonJson, parseOrExplain];
}
