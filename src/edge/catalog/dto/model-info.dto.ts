import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { TENSOR_DTYPES } from '../../../tensor/dtypes';
import { modelFormats, platformNames } from '../../../engines/registry';

export class TensorSpecDto {
  @ApiProperty({ example: 'features' })
  name: string;

  @ApiProperty({ example: 'float32', description: `Element type: ${TENSOR_DTYPES.join(', ')}` })
  dtype: string;

  @ApiProperty({
    example: [-1, 4],
    type: [Number],
    description: '-1 marks a free dimension (the batch, usually)',
  })
  shape: number[];
}

export class ModelVersionDto {
  @ApiProperty({ example: 2 })
  version: number;

  @ApiProperty({
    example: 'AVAILABLE',
    enum: ['START', 'LOADING', 'AVAILABLE', 'UNLOADING', 'END'],
  })
  state: string;

  @ApiProperty({ example: 'layers-model', enum: modelFormats() })
  format: string;

  @ApiProperty({
    example: 'tensorflowjs_layers',
    enum: platformNames(),
    description: 'The engine, named as V2 metadata names it',
  })
  platform: string;

  @ApiProperty({
    example: 'wasm',
    description:
      'What runs this version: the TF.js backend (wasm, cpu, tensorflow) or onnxruntime-cpu',
  })
  backend: string;

  @ApiProperty({
    example: true,
    description:
      'Concurrent requests are merged into batches (the model is batch-major and metadata.json does not turn it off)',
  })
  batching: boolean;

  @ApiProperty({ type: [TensorSpecDto] })
  inputs: TensorSpecDto[];

  @ApiProperty({ type: [TensorSpecDto] })
  outputs: TensorSpecDto[];

  @ApiPropertyOptional({ example: ['setosa', 'versicolor', 'virginica'], type: [String] })
  labels?: string[];

  @ApiPropertyOptional({ example: 'Iris species classifier (MLP 4-16-3)' })
  description?: string;

  @ApiProperty({ example: 12.4, description: 'Time to read and build the model at startup, in ms' })
  loadTimeMs: number;

  @ApiProperty({ example: 3.1, description: 'Time of the warm-up inference at startup, in ms' })
  warmupTimeMs: number;

  @ApiPropertyOptional({ description: 'The rest of metadata.json (training details, accuracy...)' })
  metadata?: Record<string, unknown>;
}

export class ModelInfoDto {
  @ApiProperty({ example: 'iris' })
  name: string;

  @ApiProperty({
    example: 'wasm',
    description:
      'What runs the default version: the TF.js backend (wasm, cpu, tensorflow) or onnxruntime-cpu',
  })
  backend: string;

  @ApiProperty({ example: 2, description: 'The version served when a request names none' })
  defaultVersion: number;

  @ApiProperty({ type: [ModelVersionDto], description: 'Loaded versions, highest first' })
  versions: ModelVersionDto[];
}

export class ModelSummaryDto {
  @ApiProperty({ example: 'iris' })
  name: string;

  @ApiProperty({ example: [2, 1], type: [Number], description: 'Loaded versions, highest first' })
  versions: number[];
}

export class FailedVersionDto {
  @ApiProperty({ example: 'mine' })
  name: string;

  @ApiProperty({ example: 3 })
  version: number;

  @ApiProperty({
    example: "failed to load 'mine' version 3: mine/3/model.json: model.json is not valid JSON",
    description:
      'Why the load failed, naming files relative to MODEL_DIR; retried when the files change',
  })
  error: string;
}

export class ModelListDto {
  @ApiProperty({ type: [ModelSummaryDto] })
  models: ModelSummaryDto[];

  @ApiPropertyOptional({
    type: [FailedVersionDto],
    description:
      'Present only when a version failed to load, found by hot reload or at a STRICT_STARTUP=false start: it does not serve (the versions already loaded do) and it does not change readiness',
  })
  failed?: FailedVersionDto[];
}
