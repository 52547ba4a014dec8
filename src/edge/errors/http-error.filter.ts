import {
  ArgumentsHost,
  Catch,
  HttpException,
  HttpStatus,
  Logger,
  NotFoundException,
} from '@nestjs/common';
import { BaseExceptionFilter } from '@nestjs/core';
import type { Request, Response } from 'express';
import { allowedMethods, hasMatchedEndpoint } from '../../observability/route-label';
import { isClaimed } from './serving-request';
import { clipMessage } from '../../errors/client-text';
import { ServingError } from '../../errors/serving-error';
import { HttpError, sendHttpError } from './error-body';
import { httpStatusOf } from './http-status';

/**
 * Maps anything thrown while serving a request to a status and a message meant for the client:
 * a ServingError from the core by its code, a Nest exception from the edge (body parsers,
 * validation, guards) by its own status. Undefined for what the client must not see (INTERNAL,
 * anything unknown).
 */
export function toHttpError(exception: unknown): HttpError | undefined {
  if (exception instanceof ServingError) {
    if (exception.code === 'INTERNAL') return undefined;
    return { status: httpStatusOf(exception), message: clipMessage(exception.message) };
  }
  if (exception instanceof HttpException) {
    const response = exception.getResponse();
    const message =
      typeof response === 'string' ? response : (response as { message?: unknown }).message;
    return {
      status: exception.getStatus(),
      message: clipMessage(
        Array.isArray(message) ? message.join('; ') : String(message ?? exception.message),
      ),
    };
  }
  return undefined;
}

/**
 * Nest answers a request no route took with a NotFoundException. When the path is one of ours
 * and only the method is wrong (`GET /predict`), the truthful answer is 405 with the methods that
 * work in `Allow` (RFC 9110). A 404 thrown by an endpoint (unknown model) stays a 404, unless
 * the endpoint only took the request because its parameter swallowed the literal text of the
 * route the path names: `GET /v1/models/iris:predict` reaches the status route as a model named
 * 'iris:predict' (404), `.../versions/1:predict` as version '1:predict' (400), while the path is
 * the predict route's, which takes POST.
 */
function methodNotAllowed(
  exception: unknown,
  error: HttpError | undefined,
  request: Request,
  response: Response,
) {
  if (!error) return undefined;
  const allowed = allowedMethods(request);
  if (allowed.length === 0 || allowed.includes(request.method)) return undefined;
  const misrouted = hasMatchedEndpoint(request)
    ? error.status < 500
    : exception instanceof NotFoundException;
  if (!misrouted) return undefined;
  response.setHeader('Allow', allowed.join(', '));
  return {
    status: HttpStatus.METHOD_NOT_ALLOWED,
    message: `Method ${request.method} is not allowed on ${request.path}; allowed: ${allowed.join(', ')}`,
  };
}

/**
 * The model server's exception filter (registered as APP_FILTER, so tests see production
 * behaviour, and so it also sees errors raised before routing): on the server's requests, client
 * errors keep their status and message and anything else is logged and answered with a generic
 * 500 that leaks no internals. A host app's own requests (not claimed) get Nest's default.
 */
@Catch()
export class HttpErrorFilter extends BaseExceptionFilter {
  private readonly logger = new Logger(HttpErrorFilter.name);

  catch(exception: unknown, host: ArgumentsHost): void {
    const http = host.switchToHttp();
    const request = http.getRequest<Request>();
    const response = http.getResponse<Response>();
    if (host.getType() !== 'http' || !isClaimed(request)) {
      super.catch(exception, host);
      return;
    }
    const known = toHttpError(exception);
    let error =
      (response.headersSent ? undefined : methodNotAllowed(exception, known, request, response)) ??
      known;
    if (!error) {
      this.logger.error(
        `${request.method} ${request.url} failed`,
        (exception as Error)?.stack ?? String(exception),
      );
      error = { status: HttpStatus.INTERNAL_SERVER_ERROR, message: 'Internal server error' };
    }
    if (response.headersSent) return;
    sendHttpError(request, response, error);
  }
}
