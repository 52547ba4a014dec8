import { applyDecorators } from '@nestjs/common';
import { ApiProperty, ApiResponse } from '@nestjs/swagger';
import { nativeErrorBody } from './error-body';

/** The error body of every native endpoint (the protocol adapters use their protocol's own shape). */
export class ErrorResponseDto {
  @ApiProperty({ example: 400 })
  statusCode: number;

  @ApiProperty({ example: 'Bad Request' })
  error: string;

  @ApiProperty({
    description: 'What was wrong and what was expected',
    example:
      "instances[1]: expected an array of 4, got an array of 3; all entries must share the shape [2,4] (input 'features' expects shape [-1,4] (float32))",
  })
  message: string;
}

/** One documented error answer: its status, when it happens, and a message the server sends. */
export interface ErrorDoc {
  status: number;
  description: string;
  message: string;
}

/**
 * What any inference request can meet beside bad input, whatever its protocol: its size limits,
 * load shedding, REQUEST_TIMEOUT_MS and an input too big for an inference thread's memory.
 */
export const INFERENCE_ERRORS: ErrorDoc[] = [
  {
    status: 413,
    description:
      'More instances than MAX_BATCH, or a body over BODY_LIMIT (or over JSON_MAX_ELEMENTS, JSON_MAX_DEPTH, JSON_MAX_KEYS)',
    message: 'Too many instances: 2000; at most MAX_BATCH=1024 per request',
  },
  {
    status: 503,
    description:
      'Busy (MAX_INFLIGHT or MAX_UPLOADS reached; Retry-After says when to retry), or the version was unloaded by a hot swap mid-request',
    message: 'Server busy: 64 requests already in flight (MAX_INFLIGHT); retry after 1 s',
  },
  {
    status: 504,
    description: 'Not answered within REQUEST_TIMEOUT_MS, time in the queue included',
    message:
      'Request not answered within 30000 ms (REQUEST_TIMEOUT_MS), time in the queue included',
  },
  {
    status: 507,
    description: 'The input needs more memory than an inference thread has',
    message:
      'model digits: the input needs more memory than the inference thread has (RangeError: Array buffer allocation failed); send fewer or smaller instances',
  },
];

/**
 * Documents error statuses of a native endpoint, each with an example of its own answer: with
 * only the DTO, Swagger UI shows the DTO's example (a 400) under every status.
 */
export function ApiErrorResponses(...errors: ErrorDoc[]): MethodDecorator & ClassDecorator {
  return applyDecorators(
    ...errors.map(({ status, description, message }) =>
      ApiResponse({
        status,
        description,
        type: ErrorResponseDto,
        example: nativeErrorBody({ status, message }),
      }),
    ),
  );
}
