import { Body, Controller, HttpCode, Post } from '@nestjs/common';
import {
  ApiBadRequestResponse,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiOperation,
  ApiPayloadTooLargeResponse,
  ApiTags,
} from '@nestjs/swagger';
import { ErrorResponseDto } from '../common/error-response.dto';
import { ModelService } from '../model/model.service';
import { PredictRequestDto } from './dto/predict-request.dto';
import { PredictResponseDto } from './dto/predict-response.dto';

@ApiTags('predict')
@Controller('predict')
export class PredictController {
  constructor(private readonly models: ModelService) {}

  @Post()
  @HttpCode(200)
  @ApiOperation({ summary: 'Run a model on a batch of instances' })
  @ApiOkResponse({ type: PredictResponseDto })
  @ApiBadRequestResponse({
    type: ErrorResponseDto,
    description: 'Malformed body, or instances that do not match the model signature',
  })
  @ApiNotFoundResponse({ type: ErrorResponseDto, description: 'Unknown model or version' })
  @ApiPayloadTooLargeResponse({
    type: ErrorResponseDto,
    description: 'More instances than MAX_BATCH, or a body over BODY_LIMIT',
  })
  predict(@Body() body: PredictRequestDto): Promise<PredictResponseDto> {
    return this.models.predict(body);
  }
}
