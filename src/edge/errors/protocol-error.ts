import { applyDecorators } from '@nestjs/common';
import { ApiProperty, ApiResponse } from '@nestjs/swagger';
import type { ErrorDoc } from './error-response.dto';

/**
 * TF Serving (/v1/...) and the Open Inference Protocol (/v2/...) both answer errors as
 * `{"error": "<message>"}` with the status code. The global filter picks that shape by path, so
 * it also applies to errors raised before routing (malformed JSON, body too large).
 */
export function isProtocolPath(path: string): boolean {
  return /^\/v[12](\/|$)/.test(path);
}

export class ProtocolErrorDto {
  @ApiProperty({
    description: 'What was wrong and what was expected',
    example: "Model 'half' not found; available models: half_plus_three, iris",
  })
  error: string;
}

/** Documents error statuses of a protocol endpoint, each with an example of its own answer. */
export function ApiProtocolErrors(...errors: ErrorDoc[]): MethodDecorator & ClassDecorator {
  return applyDecorators(
    ...errors.map(({ status, description, message }) =>
      ApiResponse({ status, description, type: ProtocolErrorDto, example: { error: message } }),
    ),
  );
}
