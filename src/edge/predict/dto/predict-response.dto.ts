import { ApiProperty } from '@nestjs/swagger';

export class PredictResponseDto {
  @ApiProperty({ example: 'iris' })
  model: string;

  @ApiProperty({ example: 2 })
  version: number;

  @ApiProperty({
    description:
      'One prediction per instance, in order. A model with labels answers {label, scores}; a single-output model ' +
      'answers its output row; a multi-output model answers an object keyed by output name.',
    type: 'array',
    items: {},
    example: [
      { label: 'setosa', scores: { setosa: 0.9998, versicolor: 0.0002, virginica: 1.2e-15 } },
      { label: 'virginica', scores: { setosa: 1.1e-9, versicolor: 0.004, virginica: 0.996 } },
    ],
  })
  predictions: unknown[];
}
