import { applyDecorators } from '@nestjs/common';
import { ApiProperty, ApiResponse } from '@nestjs/swagger';
import { errorOnlyBody } from './error-body';
import type { ErrorDoc } from './error-response.dto';

export class ProtocolErrorDto {
  @ApiProperty({
    description: 'What was wrong and what was expected',
    example:
      "Request for unknown model: 'half' is not found; available models: half_plus_three, iris",
  })
  error: string;
}

/** Documents error statuses of a protocol endpoint, each with an example of its own answer. */
export function ApiProtocolErrors(...errors: ErrorDoc[]): MethodDecorator & ClassDecorator {
  return applyDecorators(
    ...errors.map(({ status, description, message }) =>
      ApiResponse({
        status,
        description,
        type: ProtocolErrorDto,
        example: errorOnlyBody({ status, message }),
      }),
    ),
  );
}
