import {
  ArgumentsHost,
  Catch,
  ExceptionFilter,
  HttpException,
  HttpStatus,
  Logger,
} from '@nestjs/common';
import { STATUS_CODES } from 'node:http';
import type { Request, Response } from 'express';
import { InferenceError, STATUS_OF_CODE } from '../inference/inference-error';
import { isProtocolPath } from '../protocols/protocol-error';

export interface HttpError {
  status: number;
  message: string;
}

/** Maps anything thrown while serving a request to a status and a message meant for the client. */
export function toHttpError(exception: unknown): HttpError | undefined {
  if (exception instanceof InferenceError && exception.code !== 'INTERNAL') {
    return { status: STATUS_OF_CODE[exception.code], message: exception.message };
  }
  if (exception instanceof HttpException) {
    const response = exception.getResponse();
    const message =
      typeof response === 'string' ? response : (response as { message?: unknown }).message;
    return {
      status: exception.getStatus(),
      message: Array.isArray(message) ? message.join('; ') : String(message ?? exception.message),
    };
  }
  return undefined;
}

/**
 * The app-wide exception filter (registered as APP_FILTER, so tests see production behaviour):
 * client errors keep their status and message; anything else is logged and answered with a
 * generic 500 that leaks no internals.
 */
@Catch()
export class HttpErrorFilter implements ExceptionFilter {
  private readonly logger = new Logger(HttpErrorFilter.name);

  catch(exception: unknown, host: ArgumentsHost): void {
    const http = host.switchToHttp();
    const request = http.getRequest<Request>();
    const response = http.getResponse<Response>();
    let error = toHttpError(exception);
    if (!error) {
      this.logger.error(
        `${request.method} ${request.url} failed`,
        (exception as Error)?.stack ?? String(exception),
      );
      error = { status: HttpStatus.INTERNAL_SERVER_ERROR, message: 'Internal server error' };
    }
    if (response.headersSent) return;
    // TF Serving (/v1) and V2 (/v2) clients expect their protocol's {"error": "..."} body.
    if (isProtocolPath(request.path)) {
      response.status(error.status).json({ error: error.message });
      return;
    }
    response.status(error.status).json({
      statusCode: error.status,
      error: STATUS_CODES[error.status] ?? 'Error',
      message: error.message,
    });
  }
}
