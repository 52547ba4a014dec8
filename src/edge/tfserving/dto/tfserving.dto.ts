import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Allow, IsOptional, IsString } from 'class-validator';
import { TensorPayload } from '../../body/app-validation.pipe';
import { INSTANCE_SCHEMA } from '../../openapi/tensor-schemas';

export class TfsStatusDto {
  @ApiProperty({ example: 'OK', description: 'OK, or UNKNOWN when the version failed to load' })
  error_code: string;

  @ApiProperty({
    example: '',
    description: 'Why the version failed to load; empty when it did not',
  })
  error_message: string;
}

export class TfsVersionStatusDto {
  @ApiProperty({ example: '123' })
  version: string;

  @ApiProperty({
    example: 'AVAILABLE',
    enum: ['START', 'LOADING', 'AVAILABLE', 'UNLOADING', 'END'],
  })
  state: string;

  @ApiProperty({ type: TfsStatusDto })
  status: TfsStatusDto;
}

export class TfsModelStatusResponseDto {
  @ApiProperty({
    type: [TfsVersionStatusDto],
    description:
      'Every known version, highest first: loading, available, unloading, or failed (END + error)',
  })
  model_version_status: TfsVersionStatusDto[];
}

export class TfsModelSpecDto {
  @ApiProperty({ example: 'half_plus_three' })
  name: string;

  @ApiProperty({ example: '' })
  signature_name: string;

  @ApiProperty({ example: '123' })
  version: string;
}

export class TfsMetadataResponseDto {
  @ApiProperty({ type: TfsModelSpecDto })
  model_spec: TfsModelSpecDto;

  @ApiProperty({
    description: 'GetModelMetadataResponse.metadata: the signature_def map, as TF Serving nests it',
    example: {
      signature_def: {
        signature_def: {
          serving_default: {
            inputs: {
              x: {
                dtype: 'DT_FLOAT',
                tensor_shape: { dim: [{ size: '-1', name: '' }], unknown_rank: false },
                name: 'x:0',
              },
            },
            outputs: {
              y: {
                dtype: 'DT_FLOAT',
                tensor_shape: { dim: [{ size: '-1', name: '' }], unknown_rank: false },
                name: 'y:0',
              },
            },
            method_name: 'tensorflow/serving/predict',
          },
        },
      },
    },
  })
  metadata: Record<string, unknown>;
}

/** Validated shallowly: the tensor values are checked by the codec against the signature. */
@TensorPayload()
export class TfsPredictRequestDto {
  @ApiPropertyOptional({
    example: 'serving_default',
    description: 'Only serving_default exists (a TF.js model has one signature)',
  })
  @IsOptional()
  @IsString()
  signature_name?: string;

  @ApiPropertyOptional({
    description:
      'Row format: one entry per example. The bare value for a single-input model, an object keyed by input name otherwise.',
    type: 'array',
    items: INSTANCE_SCHEMA,
    example: [1.0, 2.0, 5.0],
  })
  @Allow()
  instances?: unknown;

  @ApiPropertyOptional({
    description:
      'Columnar format: the whole batch of each input, keyed by input name (or bare for a single input). Not together with instances.',
    example: { x: [1.0, 2.0, 5.0] },
  })
  @Allow()
  inputs?: unknown;
}

export class TfsPredictResponseDto {
  @ApiPropertyOptional({
    description:
      'Answer to the row format: one entry per instance; objects keyed by output name when the model has several outputs',
    example: [3.5, 4.0, 5.5],
  })
  predictions?: unknown;

  @ApiPropertyOptional({
    description:
      'Answer to the columnar format: the whole output tensor, or an object keyed by output name when the model has several',
    example: { signal_sum: [[15], [15]], sensor_sum: [[10], [23]] },
  })
  outputs?: unknown;
}

/** Classify and regress requests (api_rest.md): tf.Example-like objects, one per example. */
@TensorPayload()
export class TfsExamplesRequestDto {
  @ApiPropertyOptional({
    example: 'serving_default',
    description:
      'serving_default (or empty), or the method name tensorflow/serving/classify | tensorflow/serving/regress',
  })
  @IsOptional()
  @IsString()
  signature_name?: string;

  @ApiPropertyOptional({
    description:
      'Features shared by every example, keyed by feature (input) name. A feature is either here or in the examples, not both.',
    example: {},
  })
  @Allow()
  context?: unknown;

  @ApiProperty({
    description:
      "One object per example, keyed by feature name: the model's input names. A value is a number or a flat list filling the input's per-example shape row-major (a nested list is taken as it is).",
    type: 'array',
    items: { type: 'object' },
    example: [{ features: [5.1, 3.5, 1.4, 0.2] }, { features: [6.7, 3.1, 5.6, 2.4] }],
  })
  @Allow()
  examples: unknown;
}

export class TfsClassifyResponseDto {
  @ApiProperty({
    description:
      "Per example, every [label, score] pair in the model's class order (labels from metadata.json)",
    example: [
      [
        ['setosa', 0.99986],
        ['versicolor', 0.00014],
        ['virginica', 1.2e-15],
      ],
    ],
  })
  results: [string, number][][];
}

export class TfsRegressResponseDto {
  @ApiProperty({
    description: 'One value per example, in request order',
    type: [Number],
    example: [5.0067, 8.0317],
  })
  results: number[];
}
