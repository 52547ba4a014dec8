import { Controller, Get, Param } from '@nestjs/common';
import { ApiNotFoundResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { ErrorResponseDto } from '../common/error-response.dto';
import { ModelService } from '../model/model.service';
import { ModelInfoDto, ModelListDto } from './dto/model-info.dto';

@ApiTags('models')
@Controller('models')
export class CatalogController {
  constructor(private readonly models: ModelService) {}

  @Get()
  @ApiOperation({ summary: 'List the served models and their loaded versions' })
  @ApiOkResponse({ type: ModelListDto })
  list(): ModelListDto {
    return this.models.list();
  }

  @Get(':name')
  @ApiOperation({ summary: "A model's metadata: versions, signature, labels, backend, load time" })
  @ApiOkResponse({ type: ModelInfoDto })
  @ApiNotFoundResponse({ type: ErrorResponseDto })
  describe(@Param('name') name: string): ModelInfoDto {
    return this.models.describe(name);
  }
}
