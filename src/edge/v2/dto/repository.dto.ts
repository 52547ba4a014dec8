import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsBoolean, IsObject, IsOptional } from 'class-validator';

export class RepositoryIndexRequestDto {
  @ApiPropertyOptional({
    example: true,
    description: 'true: only the models ready for inference (default false: every model)',
  })
  @IsOptional()
  @IsBoolean()
  ready?: boolean;
}

export class RepositoryIndexEntryDto {
  @ApiProperty({ example: 'iris' })
  name: string;

  @ApiPropertyOptional({ example: '2', description: 'Absent for a folder with no usable version' })
  version?: string;

  @ApiProperty({ example: 'READY', enum: ['READY', 'LOADING', 'UNLOADING', 'UNAVAILABLE'] })
  state: string;

  @ApiProperty({
    example: '',
    description: 'Why it is in that state: "unloaded", or the failed load (`failed to load ...`)',
  })
  reason: string;
}

export class RepositoryLoadRequestDto {
  @ApiPropertyOptional({
    example: { config: '{"max_batch_size": 8}' },
    description:
      "`config`: Triton's model configuration as a JSON string, replacing the model's own for this load",
  })
  @IsOptional()
  @IsObject()
  parameters?: Record<string, unknown>;
}

export class RepositoryUnloadRequestDto {
  @ApiPropertyOptional({
    example: {},
    description:
      "Triton's `unload_dependents` is accepted and changes nothing: no model here has dependents",
  })
  @IsOptional()
  @IsObject()
  parameters?: Record<string, unknown>;
}
