import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import {
  ArrayNotEmpty,
  IsArray,
  IsInt,
  IsObject,
  IsOptional,
  IsString,
  Min,
} from 'class-validator';
import { TENSOR_DTYPES } from '../../../tensor/dtypes';
import { TensorPayload } from '../../body/app-validation.pipe';
import { toV2Datatype } from '../v2-datatypes';
import { platformNames } from '../../../engines/registry';

export class V2ServerMetadataDto {
  @ApiProperty({ example: 'tfjs-model-server' })
  name: string;

  @ApiProperty({ example: '0.1.0' })
  version: string;

  @ApiProperty({
    example: ['binary_tensor_data', 'model_repository', 'model_configuration', 'statistics'],
    type: [String],
  })
  extensions: string[];
}

export class V2LiveDto {
  @ApiProperty({ example: true })
  live: boolean;
}

export class V2ReadyDto {
  @ApiProperty({ example: true })
  ready: boolean;
}

export class V2ModelReadyDto {
  @ApiProperty({ example: 'iris' })
  name: string;

  @ApiProperty({ example: true })
  ready: boolean;
}

export class V2TensorMetadataDto {
  @ApiProperty({ example: 'features' })
  name: string;

  @ApiProperty({
    example: 'FP32',
    description: `The datatype of the model's element type: ${TENSOR_DTYPES.map(toV2Datatype).join(', ')}`,
  })
  datatype: string;

  @ApiProperty({
    example: [-1, 4],
    type: [Number],
    description: '-1 marks a variable-size dimension',
  })
  shape: number[];
}

export class V2ModelMetadataDto {
  @ApiProperty({ example: 'iris' })
  name: string;

  @ApiProperty({
    example: ['2', '1'],
    type: [String],
    description: 'Available versions, highest first',
  })
  versions: string[];

  @ApiProperty({
    example: 'tensorflowjs_layers',
    enum: platformNames(),
  })
  platform: string;

  @ApiProperty({ type: [V2TensorMetadataDto] })
  inputs: V2TensorMetadataDto[];

  @ApiProperty({
    type: [V2TensorMetadataDto],
    example: [{ name: 'probabilities', datatype: 'FP32', shape: [-1, 3] }],
  })
  outputs: V2TensorMetadataDto[];
}

export class V2ModelConfigTensorDto {
  @ApiProperty({ example: 'features' })
  name: string;

  @ApiProperty({ example: 'TYPE_FP32', description: "Triton's DataType (model_config.proto)" })
  data_type: string;

  @ApiProperty({
    example: [4],
    type: [Number],
    description: 'Without the batch dimension when max_batch_size > 0; -1 marks a free dimension',
  })
  dims: number[];

  @ApiPropertyOptional({
    example: { shape: [2, 2] },
    description: 'The shape the model itself takes or gives, when it differs from dims',
  })
  reshape?: { shape: number[] };
}

/** Triton's ModelConfig in its JSON form (model_config.proto, proto field names). */
export class V2ModelConfigDto {
  @ApiProperty({ example: 'iris' })
  name: string;

  @ApiProperty({ example: 'tensorflowjs_layers', enum: platformNames() })
  platform: string;

  @ApiProperty({
    example: 'tensorflowjs',
    description: "Triton's backend name (onnxruntime for ONNX)",
  })
  backend: string;

  @ApiProperty({
    example: { latest: { num_versions: 1 } },
    description: 'One of latest {num_versions}, all {} or specific {versions}',
  })
  version_policy: Record<string, unknown>;

  @ApiProperty({
    example: 32,
    description:
      '0: no batch dimension (dims are the full shape); otherwise the most rows per batch',
  })
  max_batch_size: number;

  @ApiProperty({ type: [V2ModelConfigTensorDto] })
  input: V2ModelConfigTensorDto[];

  @ApiProperty({
    type: [V2ModelConfigTensorDto],
    example: [{ name: 'probabilities', data_type: 'TYPE_FP32', dims: [3] }],
  })
  output: V2ModelConfigTensorDto[];

  @ApiProperty({
    example: [{ count: 2, kind: 'KIND_CPU' }],
    description: 'count: how many inference threads hold the model',
  })
  instance_group: Record<string, unknown>[];

  @ApiPropertyOptional({
    example: { max_queue_delay_microseconds: 0 },
    description: "Present when the model's requests are merged into batches",
  })
  dynamic_batching?: Record<string, unknown>;
}

export class V2RequestInputDto {
  @ApiProperty({ example: 'features' })
  @IsString()
  name: string;

  @ApiProperty({ example: [2, 4], type: [Number], description: 'Full shape, batch included' })
  @IsArray()
  @IsInt({ each: true })
  @Min(0, { each: true })
  shape: number[];

  @ApiProperty({
    example: 'FP32',
    description:
      'BOOL, UINT8/16/32/64, INT8/16/32/64, FP16/32/64; mapped onto the input dtype, 400 when a value does not fit',
  })
  @IsString()
  datatype: string;

  @ApiPropertyOptional({ type: 'object', additionalProperties: true })
  @IsOptional()
  @IsObject()
  parameters?: Record<string, unknown>;

  @ApiPropertyOptional({
    description:
      'Row-major values, flat or nested like shape. Absent when parameters.binary_data_size says the values follow the JSON header as binary data',
    type: 'array',
    items: {},
    example: [5.1, 3.5, 1.4, 0.2, 6.7, 3.1, 5.6, 2.4],
  })
  @IsOptional()
  @IsArray()
  data?: unknown[];
}

export class V2RequestOutputDto {
  @ApiProperty({ example: 'probabilities' })
  @IsString()
  name: string;

  @ApiPropertyOptional({
    type: 'object',
    additionalProperties: true,
    description: '{"binary_data": true} answers this output as binary data after the JSON header',
  })
  @IsOptional()
  @IsObject()
  parameters?: Record<string, unknown>;
}

/**
 * Validated shallowly (the data arrays can be megabytes); each input and output entry is then
 * validated against V2RequestInputDto / V2RequestOutputDto by the mapper.
 */
@TensorPayload()
export class V2InferRequestDto {
  @ApiPropertyOptional({ example: '42', description: 'Echoed in the response' })
  @IsOptional()
  @IsString()
  id?: string;

  @ApiPropertyOptional({
    example: 'iris',
    description: 'Optional (Triton sends it); must name the model in the path',
  })
  @IsOptional()
  @IsString()
  model_name?: string;

  @ApiPropertyOptional({
    type: 'object',
    additionalProperties: true,
    description:
      '{"binary_data_output": true} answers every output as binary data (unless an output says otherwise); nothing else is used',
  })
  @IsOptional()
  @IsObject()
  parameters?: Record<string, unknown>;

  @ApiProperty({ type: [V2RequestInputDto] })
  @IsArray()
  @ArrayNotEmpty()
  inputs: V2RequestInputDto[];

  @ApiPropertyOptional({
    type: [V2RequestOutputDto],
    description: 'Outputs to return; all of them when omitted',
  })
  @IsOptional()
  @IsArray()
  outputs?: V2RequestOutputDto[];
}

export class V2ResponseOutputDto {
  @ApiProperty({ example: 'probabilities' })
  name: string;

  @ApiProperty({ example: [2, 3], type: [Number] })
  shape: number[];

  @ApiProperty({ example: 'FP32' })
  datatype: string;

  @ApiPropertyOptional({
    type: 'array',
    items: {},
    description: 'Flat, row-major (absent for an output sent as binary data)',
    example: [0.98, 0.02, 0.0, 0.0, 0.01, 0.99],
  })
  data?: unknown[];

  @ApiPropertyOptional({
    type: 'object',
    additionalProperties: true,
    description: '{"binary_data_size": N} for an output sent as N bytes after the JSON header',
    example: { binary_data_size: 24 },
  })
  parameters?: Record<string, unknown>;
}

export class V2InferResponseDto {
  @ApiProperty({ example: 'iris' })
  model_name: string;

  @ApiProperty({ example: '2' })
  model_version: string;

  @ApiProperty({
    example: '42',
    description: 'The request id, or a generated UUID when it had none',
  })
  id: string;

  @ApiProperty({ type: [V2ResponseOutputDto] })
  outputs: V2ResponseOutputDto[];
}
