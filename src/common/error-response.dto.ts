import { ApiProperty } from '@nestjs/swagger';

/** The error body of every native endpoint (the protocol adapters use their protocol's own shape). */
export class ErrorResponseDto {
  @ApiProperty({ example: 400 })
  statusCode: number;

  @ApiProperty({ example: 'Bad Request' })
  error: string;

  @ApiProperty({
    description: 'What was wrong and what was expected',
    example:
      "instances[1]: expected 4 elements, got 3; input 'features' expects shape [-1,4] (float32)",
  })
  message: string;
}
