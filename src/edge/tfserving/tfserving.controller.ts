import { Body, Controller, Get, HttpCode, Param, Post, UsePipes } from '@nestjs/common';
import { AppValidationPipe } from '../body/app-validation.pipe';
import { ApiBody, ApiOkResponse, ApiOperation, ApiParam, ApiTags } from '@nestjs/swagger';
import { currentRequestSignal } from '../../core/request-scope';
import { ServingError } from '../../errors/serving-error';
import { ImageService } from '../../image/image.service';
import { ModelService } from '../../core/model.service';
import { toNestedMap } from '../../tensor/tensor';
import { STRING_DTYPE } from '../../tensor/strings';
import type { ServedModel } from '../../core/catalog/served-model';
import { INFERENCE_ERRORS } from '../errors/error-response.dto';
import { ApiProtocolErrors } from '../errors/protocol-error';
import {
  TfsClassifyResponseDto,
  TfsExamplesRequestDto,
  TfsMetadataResponseDto,
  TfsModelStatusResponseDto,
  TfsPredictRequestDto,
  TfsPredictResponseDto,
  TfsRegressResponseDto,
} from './dto/tfserving.dto';
import { runExamples } from './tfserving.examples';
import {
  encodePredictRequest,
  labelNotFound,
  toMetadata,
  toModelStatus,
  toPredictResponse,
} from './tfserving.mapper';

const NAME = ApiParam({ name: 'name', example: 'half_plus_three', description: 'Model name' });
const VERSION = ApiParam({
  name: 'version',
  example: '123',
  description: 'Model version (folder number)',
});
const LABEL = ApiParam({
  name: 'label',
  example: 'stable',
  description: 'Version label. This server assigns none, so a label path always answers 404.',
});
const NOT_FOUND = ApiProtocolErrors({
  status: 404,
  description: 'Unknown model, version or label',
  message:
    "Request for unknown model: 'irsi' is not found; available models: digits, iris, iris-graph, iris-onnx, linear, linear-onnx",
});

const PREDICT_BODY = ApiBody({
  type: TfsPredictRequestDto,
  examples: {
    row: {
      summary: 'Row format, single input (api_rest.md half_plus_three example)',
      value: { instances: [1.0, 2.0, 5.0] },
    },
    columnar: { summary: 'Columnar format', value: { inputs: { x: [1.0, 2.0, 5.0] } } },
    named: {
      summary: 'Row format, named inputs (iris)',
      value: { signature_name: 'serving_default', instances: [{ features: [5.1, 3.5, 1.4, 0.2] }] },
    },
    image: {
      summary: 'Images as {"b64"}: a model whose metadata.json declares an image block (digits)',
      value: { instances: [{ b64: '<base64 of a JPEG/PNG/WebP file, e.g. base64 -w0 7.png>' }] },
    },
  },
});
const PREDICT_OK = ApiOkResponse({
  type: TfsPredictResponseDto,
  examples: {
    row: { summary: 'Row format', value: { predictions: [3.5, 4.0, 5.5] } },
    columnar: { summary: 'Columnar format', value: { outputs: [3.5, 4.0, 5.5] } },
  },
});
const PREDICT_BAD = ApiProtocolErrors(
  {
    status: 400,
    description: 'Both formats at once, unknown signature, or values that do not fit the signature',
    message: 'Send either "instances" (row format) or "inputs" (columnar format), not both',
  },
  ...INFERENCE_ERRORS,
);
const CLASSIFY_BODY = ApiBody({
  type: TfsExamplesRequestDto,
  examples: {
    iris: {
      summary: 'Two flowers (iris: labels in metadata.json)',
      value: { examples: [{ features: [5.1, 3.5, 1.4, 0.2] }, { features: [6.7, 3.1, 5.6, 2.4] }] },
    },
  },
});
const REGRESS_BODY = ApiBody({
  type: TfsExamplesRequestDto,
  examples: {
    linear: {
      summary: "api_rest.md's half_plus_three example, on the linear model",
      value: { signature_name: 'tensorflow/serving/regress', examples: [{ x: 1.0 }, { x: 2.0 }] },
    },
  },
});
const EXAMPLES_BAD = ApiProtocolErrors(
  {
    status: 400,
    description:
      'A model that cannot answer the verb (classify: no labels in metadata.json; regress: not a single output of one value per example), or examples that do not fit its inputs',
    message:
      "Model 'linear' cannot classify: its metadata.json has no \"labels\" (one class name per entry of a single [-1,n] output; its outputs are 'y' [-1,1]). Use :predict for raw outputs",
  },
  ...INFERENCE_ERRORS,
);
const STATUS_OK = ApiOkResponse({
  type: TfsModelStatusResponseDto,
  example: {
    model_version_status: [
      { version: '123', state: 'AVAILABLE', status: { error_code: 'OK', error_message: '' } },
    ],
  },
});

/** A model without an image block whose inputs include strings: {"b64"} values are its bytes. */
const b64IsStringData = (model: ServedModel) =>
  model.metadata.image === undefined &&
  model.signature.inputs.some((spec) => spec.dtype === STRING_DTYPE);

/**
 * TensorFlow Serving's REST API (tensorflow_serving/g3doc/api_rest.md). Thin: the mapper
 * translates formats, ModelService picks the version and runs it. Errors are {"error": "..."}.
 */
@ApiTags('TensorFlow Serving REST API (v1)')
// The module's validation on its own routes only: a host's routes keep theirs.
@UsePipes(AppValidationPipe)
@Controller('v1/models')
export class TfServingController {
  constructor(
    private readonly models: ModelService,
    private readonly images: ImageService,
  ) {}

  @Get(':name')
  @ApiOperation({ summary: 'Model status: every loaded version, its state, and load errors' })
  @NAME
  @STATUS_OK
  @NOT_FOUND
  status(@Param('name') name: string): TfsModelStatusResponseDto {
    return toModelStatus(this.models.statusOf(name));
  }

  @Get(':name/versions/:version')
  @ApiOperation({ summary: 'Status of one version' })
  @NAME
  @VERSION
  @STATUS_OK
  @NOT_FOUND
  versionStatus(
    @Param('name') name: string,
    @Param('version') version: string,
  ): TfsModelStatusResponseDto {
    return toModelStatus(this.models.statusOf(name, version));
  }

  @Get(':name/labels/:label')
  @ApiOperation({ summary: 'Status of a labelled version (no labels are assigned: 404)' })
  @NAME
  @LABEL
  @NOT_FOUND
  labelStatus(@Param('name') name: string, @Param('label') label: string): never {
    throw this.labelNotFound(name, label);
  }

  @Get(':name/metadata')
  @ApiOperation({ summary: 'Signature of the latest version (model_spec + signature_def map)' })
  @NAME
  @ApiOkResponse({ type: TfsMetadataResponseDto })
  @NOT_FOUND
  metadata(@Param('name') name: string): TfsMetadataResponseDto {
    return toMetadata(this.models.resolve(name));
  }

  @Get(':name/versions/:version/metadata')
  @ApiOperation({ summary: 'Signature of one version' })
  @NAME
  @VERSION
  @ApiOkResponse({ type: TfsMetadataResponseDto })
  @NOT_FOUND
  versionMetadata(
    @Param('name') name: string,
    @Param('version') version: string,
  ): TfsMetadataResponseDto {
    return toMetadata(this.models.resolve(name, version));
  }

  @Get(':name/labels/:label/metadata')
  @ApiOperation({ summary: 'Signature of a labelled version (no labels are assigned: 404)' })
  @NAME
  @LABEL
  @NOT_FOUND
  labelMetadata(@Param('name') name: string, @Param('label') label: string): never {
    throw this.labelNotFound(name, label);
  }

  @Post(':name\\:predict')
  @HttpCode(200)
  @ApiOperation({
    summary: 'Predict with the latest version: row ("instances") or columnar ("inputs")',
  })
  @NAME
  @PREDICT_BODY
  @PREDICT_OK
  @PREDICT_BAD
  @NOT_FOUND
  predict(@Param('name') name: string, @Body() body: TfsPredictRequestDto) {
    return this.run(name, undefined, body);
  }

  @Post(':name/versions/:version\\:predict')
  @HttpCode(200)
  @ApiOperation({ summary: 'Predict with one version' })
  @NAME
  @VERSION
  @PREDICT_BODY
  @PREDICT_OK
  @PREDICT_BAD
  @NOT_FOUND
  predictVersion(
    @Param('name') name: string,
    @Param('version') version: string,
    @Body() body: TfsPredictRequestDto,
  ) {
    return this.run(name, version, body);
  }

  @Post(':name/labels/:label\\:predict')
  @HttpCode(200)
  @ApiOperation({ summary: 'Predict with a labelled version (no labels are assigned: 404)' })
  @NAME
  @LABEL
  @PREDICT_BODY
  @NOT_FOUND
  predictLabel(@Param('name') name: string, @Param('label') label: string): never {
    throw this.labelNotFound(name, label);
  }

  @Post(':name\\:classify')
  @HttpCode(200)
  @ApiOperation({
    summary: 'Classify with the latest version: every [label, score] per example (needs labels)',
  })
  @NAME
  @CLASSIFY_BODY
  @ApiOkResponse({ type: TfsClassifyResponseDto })
  @EXAMPLES_BAD
  @NOT_FOUND
  classify(@Param('name') name: string, @Body() body: TfsExamplesRequestDto) {
    return runExamples(this.models, this.models.resolve(name), 'classify', body);
  }

  @Post(':name/versions/:version\\:classify')
  @HttpCode(200)
  @ApiOperation({ summary: 'Classify with one version' })
  @NAME
  @VERSION
  @CLASSIFY_BODY
  @ApiOkResponse({ type: TfsClassifyResponseDto })
  @EXAMPLES_BAD
  @NOT_FOUND
  classifyVersion(
    @Param('name') name: string,
    @Param('version') version: string,
    @Body() body: TfsExamplesRequestDto,
  ) {
    return runExamples(this.models, this.models.resolve(name, version), 'classify', body);
  }

  @Post(':name\\:regress')
  @HttpCode(200)
  @ApiOperation({
    summary: 'Regress with the latest version: one value per example (single one-value output)',
  })
  @NAME
  @REGRESS_BODY
  @ApiOkResponse({ type: TfsRegressResponseDto })
  @EXAMPLES_BAD
  @NOT_FOUND
  regress(@Param('name') name: string, @Body() body: TfsExamplesRequestDto) {
    return runExamples(this.models, this.models.resolve(name), 'regress', body);
  }

  @Post(':name/versions/:version\\:regress')
  @HttpCode(200)
  @ApiOperation({ summary: 'Regress with one version' })
  @NAME
  @VERSION
  @REGRESS_BODY
  @ApiOkResponse({ type: TfsRegressResponseDto })
  @EXAMPLES_BAD
  @NOT_FOUND
  regressVersion(
    @Param('name') name: string,
    @Param('version') version: string,
    @Body() body: TfsExamplesRequestDto,
  ) {
    return runExamples(this.models, this.models.resolve(name, version), 'regress', body);
  }

  @Post(':name/labels/:label\\:classify')
  @HttpCode(200)
  @ApiOperation({ summary: 'Classify with a labelled version (no labels are assigned: 404)' })
  @NAME
  @LABEL
  @CLASSIFY_BODY
  @NOT_FOUND
  classifyLabel(@Param('name') name: string, @Param('label') label: string): never {
    throw this.labelNotFound(name, label);
  }

  @Post(':name/labels/:label\\:regress')
  @HttpCode(200)
  @ApiOperation({ summary: 'Regress with a labelled version (no labels are assigned: 404)' })
  @NAME
  @LABEL
  @REGRESS_BODY
  @NOT_FOUND
  regressLabel(@Param('name') name: string, @Param('label') label: string): never {
    throw this.labelNotFound(name, label);
  }

  private async run(
    name: string,
    version: string | undefined,
    body: TfsPredictRequestDto,
  ): Promise<TfsPredictResponseDto> {
    const model = this.models.resolve(name, version);
    // {"b64": ...} instances (TF Serving's binary values) are images for a model declaring an image block.
    const { instances } = body;
    if (Array.isArray(instances)) this.models.checkBatchSize(instances.length);
    // For a model without one they are the bytes of its string inputs' elements.
    const images =
      Array.isArray(instances) && !b64IsStringData(model)
        ? this.images.findImages(model, instances)
        : undefined;
    const { columnar, tensors } = images
      ? {
          columnar: false,
          tensors: await this.images.encodeRows(model, images, currentRequestSignal()),
        }
      : encodePredictRequest(model, body);
    return toPredictResponse(model, toNestedMap(await this.models.infer(model, tensors)), columnar);
  }

  private labelNotFound(name: string, label: string): ServingError {
    return labelNotFound(name, label, this.models.versionsOf(name), 'use /versions/{version}');
  }
}
