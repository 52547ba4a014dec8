import { Body, Controller, HttpCode, Post, UsePipes } from '@nestjs/common';
import { AppValidationPipe } from '../body/app-validation.pipe';
import { ApiBody, ApiConsumes, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { ApiErrorResponses, INFERENCE_ERRORS } from '../errors/error-response.dto';
import { INSTANCE_SCHEMA } from '../openapi/tensor-schemas';
import { PredictRequestDto } from './dto/predict-request.dto';
import { PredictResponseDto } from './dto/predict-response.dto';
import { IMAGE_FIELD } from '../body/image-upload.middleware';
import { PredictService } from './predict.service';

/**
 * One body schema for both forms (Swagger lists one schema per operation): JSON uses model,
 * version and instances; multipart uses model, version and image files. Swagger UI draws the
 * multipart form from it, with a file picker for `image`.
 */
const PREDICT_BODY = ApiBody({
  schema: {
    type: 'object',
    properties: {
      // Examples here prefill Swagger UI's multipart form (the JSON examples are the named ones
      // below): a ready model name, and nothing in the fields that an upload leaves out.
      model: {
        type: 'string',
        example: 'digits',
        description:
          'Model name. Defaults to DEFAULT_MODEL, or to the only model when just one is served.',
      },
      version: {
        type: 'string',
        example: '',
        description: 'Model version (a positive integer). Defaults to the highest loaded version.',
      },
      instances: {
        type: 'array',
        items: INSTANCE_SCHEMA,
        example: [],
        description:
          'JSON only. One entry per example, without the batch dimension: the bare value for a single-input model ' +
          '(a number, or a nested array shaped like its input), an object keyed by input name for several inputs, ' +
          'or {"b64": "<base64 JPEG/PNG/WebP>"} for a model that declares an image block.',
      },
      [IMAGE_FIELD]: {
        type: 'string',
        format: 'binary',
        description:
          'multipart/form-data only. An image file (JPEG, PNG or WebP) for a model that declares an image block; ' +
          'repeat the field for several images, one instance each.',
      },
    },
  },
  examples: {
    iris: {
      summary: 'Numbers (iris)',
      value: { model: 'iris', instances: [[5.1, 3.5, 1.4, 0.2]] },
    },
    digit: {
      summary: 'An image as base64 (digits)',
      value: { model: 'digits', instances: [{ b64: '<base64 of a PNG, e.g. base64 -w0 7.png>' }] },
    },
  },
});

@ApiTags('predict')
// The module's validation on its own routes only: a host's routes keep theirs.
@UsePipes(AppValidationPipe)
@Controller('predict')
export class PredictController {
  constructor(private readonly predictions: PredictService) {}

  @Post()
  @HttpCode(200)
  @ApiOperation({
    summary:
      'Run a model on a batch of instances: numbers as JSON, or images (b64 JSON or file upload)',
  })
  @ApiConsumes('multipart/form-data', 'application/json')
  @PREDICT_BODY
  @ApiOkResponse({ type: PredictResponseDto })
  @ApiErrorResponses(
    {
      status: 400,
      description:
        'Malformed body, instances that do not match the model signature, or an image that cannot be decoded',
      message:
        "instances[1]: expected an array of 4, got an array of 3; all entries must share the shape [2,4] (input 'features' expects shape [-1,4] (float32))",
    },
    {
      status: 404,
      description: 'Unknown model or version',
      message:
        "Request for unknown model: 'irsi' is not found; available models: digits, iris, iris-graph, iris-onnx, linear, linear-onnx",
    },
    ...INFERENCE_ERRORS,
  )
  predict(@Body() body: PredictRequestDto): Promise<PredictResponseDto> {
    return this.predictions.predict(body);
  }
}
