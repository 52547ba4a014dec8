import { ApiProperty } from '@nestjs/swagger';

/** Triton's statistics extension (extension_statistics.md), field for field. */
export class V2DurationDto {
  @ApiProperty({ example: 3, description: 'How many times it was counted' })
  count: number;

  @ApiProperty({ example: 412000, description: 'The total time they took, in nanoseconds' })
  ns: number;
}

export class V2InferenceStatsDto {
  @ApiProperty({ description: 'Requests answered, and the time from admission to answer' })
  success: V2DurationDto;

  @ApiProperty({
    description:
      'Admitted requests that failed (engine error, deadline passed while queued, client gone)',
  })
  fail: V2DurationDto;

  @ApiProperty({ description: 'Time successful requests waited before their batch started' })
  queue: V2DurationDto;

  @ApiProperty({ description: "Building the engine's input tensors (per request, its batch's)" })
  compute_input: V2DurationDto;

  @ApiProperty({ description: "The engine's run (per request, its batch's)" })
  compute_infer: V2DurationDto;

  @ApiProperty({ description: "Reading the engine's outputs back (per request, its batch's)" })
  compute_output: V2DurationDto;

  @ApiProperty({ description: 'Always zero: this server has no response cache' })
  cache_hit: V2DurationDto;

  @ApiProperty({ description: 'Always zero: this server has no response cache' })
  cache_miss: V2DurationDto;
}

export class V2BatchStatsDto {
  @ApiProperty({ example: 4, description: 'Rows of the executed batch' })
  batch_size: number;

  @ApiProperty({ description: 'Batches of this size, and the time building their inputs' })
  compute_input: V2DurationDto;

  @ApiProperty({ description: "Batches of this size, and the engine's time running them" })
  compute_infer: V2DurationDto;

  @ApiProperty({ description: 'Batches of this size, and the time reading their outputs' })
  compute_output: V2DurationDto;
}

export class V2ModelStatDto {
  @ApiProperty({ example: 'iris' })
  name: string;

  @ApiProperty({ example: '2' })
  version: string;

  @ApiProperty({
    example: 1796040000000,
    description: 'When its last request was answered, in ms since the epoch; 0 before any',
  })
  last_inference: number;

  @ApiProperty({
    example: 12,
    description: 'Rows answered successfully (a request of 8 rows counts 8)',
  })
  inference_count: number;

  @ApiProperty({
    example: 2,
    description: 'Batches the engine ran (requests merged into one batch count once)',
  })
  execution_count: number;

  @ApiProperty()
  inference_stats: V2InferenceStatsDto;

  @ApiProperty({ type: [V2BatchStatsDto], description: 'By executed batch size, ascending' })
  batch_stats: V2BatchStatsDto[];

  @ApiProperty({ type: [Object], example: [], description: 'Always empty (not measured)' })
  memory_usage: object[];
}

export class V2ModelStatisticsDto {
  @ApiProperty({
    type: [V2ModelStatDto],
    description: 'One per loaded version, by name then version',
  })
  model_stats: V2ModelStatDto[];
}
