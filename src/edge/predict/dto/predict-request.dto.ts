import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { TensorPayload } from '../../body/app-validation.pipe';
import { clip } from '../../../errors/client-text';
import { INSTANCE_SCHEMA } from '../../openapi/tensor-schemas';
import {
  ArrayNotEmpty,
  IsArray,
  IsOptional,
  IsString,
  MinLength,
  ValidateBy,
  ValidationOptions,
} from 'class-validator';

/**
 * A version as clients send it: responses give it as a number (`"version": 2`), URLs and TF
 * Serving as a string (`"2"`); both mean the same folder.
 */
export function isVersion(value: unknown): boolean {
  if (typeof value === 'number') return Number.isSafeInteger(value) && value > 0;
  return typeof value === 'string' && /^[1-9]\d*$/.test(value);
}

function IsVersion(options?: ValidationOptions): PropertyDecorator {
  return ValidateBy(
    {
      name: 'isVersion',
      validator: {
        validate: isVersion,
        defaultMessage: () =>
          'version must be a positive integer, as a number or a string (e.g. 2 or "2")',
      },
    },
    options,
  );
}

/** TF Serving's columnar body sent to /predict: say where it belongs, not only what is missing. */
function columnarHint(body: Record<string, unknown>): string {
  const model = typeof body.model === 'string' && body.model !== '' ? clip(body.model) : '{model}';
  return `/predict takes \`instances\` (a list of rows); for TF Serving's columnar \`inputs\` use POST /v1/models/${model}:predict`;
}

@TensorPayload({ inputs: columnarHint })
export class PredictRequestDto {
  @ApiProperty({
    description:
      'One entry per example, without the batch dimension. A single-input model takes the bare value ' +
      '(a number, or a nested array shaped like its input); a multi-input model takes an object keyed by input name. ' +
      'Shapes and element types are checked against the model signature (GET /models/{name}).',
    type: 'array',
    items: INSTANCE_SCHEMA,
    example: [
      [5.1, 3.5, 1.4, 0.2],
      [6.7, 3.1, 5.6, 2.4],
    ],
  })
  @IsArray()
  @ArrayNotEmpty()
  instances: unknown[];

  @ApiPropertyOptional({
    description:
      'Model name. Defaults to DEFAULT_MODEL, or to the only model when just one is served.',
    example: 'iris',
  })
  @IsOptional()
  @IsString()
  @MinLength(1)
  model?: string;

  @ApiPropertyOptional({
    description:
      'Model version: a positive integer, as a number or a string. Defaults to the highest loaded version.',
    oneOf: [
      { type: 'integer', minimum: 1 },
      { type: 'string', pattern: '^[1-9][0-9]*$' },
    ],
    example: 2,
  })
  @IsOptional()
  @IsVersion()
  version?: number | string;
}
