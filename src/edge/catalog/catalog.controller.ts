import { Controller, Get, Param, UsePipes } from '@nestjs/common';
import { AppValidationPipe } from '../body/app-validation.pipe';
import { ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { ApiErrorResponses } from '../errors/error-response.dto';
import { ModelService } from '../../core/model.service';
import { FailedVersionDto, ModelInfoDto, ModelListDto } from './dto/model-info.dto';

/**
 * Versions hot reload (or a STRICT_STARTUP=false start) found but could not load (a model added
 * with a typo in its model.json): they never serve and never take the server out of rotation, so
 * /models is where a user sees them, next to TF Serving's status (END + error) and
 * models_loaded{state="END"}.
 */
function failedVersions(models: ModelService): FailedVersionDto[] {
  const names = [...new Set(models.runtimeStats().models.map((m) => m.name))].sort();
  return names.flatMap((name) =>
    models
      .statusOf(name)
      .filter((status) => status.error !== undefined)
      .map((status) => ({ name, version: status.version, error: status.error! })),
  );
}

@ApiTags('models')
// The module's validation on its own routes only: a host's routes keep theirs.
@UsePipes(AppValidationPipe)
@Controller('models')
export class CatalogController {
  constructor(private readonly models: ModelService) {}

  @Get()
  @ApiOperation({
    summary: 'List the served models and their loaded versions, and versions that failed to load',
  })
  @ApiOkResponse({ type: ModelListDto })
  list(): ModelListDto {
    const failed = failedVersions(this.models);
    return failed.length > 0 ? { ...this.models.list(), failed } : this.models.list();
  }

  @Get(':name')
  @ApiOperation({ summary: "A model's metadata: versions, signature, labels, backend, load time" })
  @ApiOkResponse({ type: ModelInfoDto })
  @ApiErrorResponses({
    status: 404,
    description: 'Unknown model',
    message:
      "Request for unknown model: 'irsi' is not found; available models: digits, iris, iris-graph, iris-onnx, linear, linear-onnx",
  })
  describe(@Param('name') name: string): ModelInfoDto {
    return this.models.describe(name);
  }
}
