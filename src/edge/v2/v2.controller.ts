import {
  Controller,
  Get,
  HttpCode,
  Param,
  Post,
  Res,
  StreamableFile,
  UsePipes,
} from '@nestjs/common';
import { AppValidationPipe } from '../body/app-validation.pipe';
import {
  ApiBody,
  ApiOkResponse,
  ApiOperation,
  ApiParam,
  ApiServiceUnavailableResponse,
  ApiTags,
} from '@nestjs/swagger';
import type { Response } from 'express';
import { currentRequestSignal } from '../../core/request-scope';
import { ImageService } from '../../image/image.service';
import { ModelService } from '../../core/model.service';
import { INFERENCE_ERRORS } from '../errors/error-response.dto';
import { ApiProtocolErrors } from '../errors/protocol-error';
import {
  V2InferRequestDto,
  V2InferResponseDto,
  V2LiveDto,
  V2ModelMetadataDto,
  V2ModelReadyDto,
  V2ReadyDto,
  V2ServerMetadataDto,
} from './dto/v2.dto';
import { V2ModelStatisticsDto } from './dto/v2-statistics.dto';
import {
  binaryOutputs,
  readInferRequest,
  selectOutputs,
  toInferResponse,
  toModelMetadata,
  toServerMetadata,
  V2Payload,
} from './v2.mapper';
import { V2InferPayload } from './v2-payload.decorator';
import { toModelStatistics } from './v2-statistics.mapper';

const NAME = ApiParam({ name: 'name', example: 'iris', description: 'Model name' });
const VERSION = ApiParam({ name: 'version', example: '2', description: 'Model version' });
const NOT_FOUND = ApiProtocolErrors({
  status: 404,
  description: 'Unknown model or version',
  message: "Version 3 of model 'iris' not found; loaded versions: 2",
});

const INFER_BODY = ApiBody({
  type: V2InferRequestDto,
  examples: {
    flat: {
      summary: 'Two iris rows, flat row-major data',
      value: {
        id: '42',
        inputs: [
          {
            name: 'features',
            shape: [2, 4],
            datatype: 'FP32',
            data: [5.1, 3.5, 1.4, 0.2, 6.7, 3.1, 5.6, 2.4],
          },
        ],
        outputs: [{ name: 'probabilities' }],
      },
    },
    nested: {
      summary: 'The same rows, nested data',
      value: {
        inputs: [
          {
            name: 'features',
            shape: [2, 4],
            datatype: 'FP32',
            data: [
              [5.1, 3.5, 1.4, 0.2],
              [6.7, 3.1, 5.6, 2.4],
            ],
          },
        ],
      },
    },
  },
});

const BINARY_DESCRIPTION = [
  'Also takes the binary tensor data extension (Triton extension_binary_data.md): with an',
  '`Inference-Header-Content-Length: N` header the body is a JSON header of N bytes followed by',
  'the binary inputs in input order (each marked `parameters.binary_data_size`; little-endian,',
  'row-major, BOOL one byte, BYTES as 4-byte length-prefixed elements), whatever the',
  'Content-Type. `Inference-Header-Content-Length: 0` is the raw form: the body is the only',
  "input's bytes in the model's datatype, the batch the number of whole rows. Outputs come back",
  'as binary data when an output asks (`parameters.binary_data: true`), the request asks',
  '(`parameters.binary_data_output: true`) or `Accept` prefers `application/octet-stream`: the',
  'answer is then `application/octet-stream`, a JSON header whose outputs carry',
  '`parameters.binary_data_size`, its length in `Inference-Header-Content-Length`, then the bytes.',
].join(' ');

const STATISTICS_DESCRIPTION = [
  "Triton's statistics extension (extension_statistics.md): per loaded version, the requests",
  'answered and failed, the rows answered (inference_count), the batches the engine ran',
  '(execution_count; merged requests count once), and the time spent queued and in each phase of',
  "the engine's run, as counts and nanoseconds since the version was loaded. The counters behind",
  'model_inference_total, model_inference_rows_total and model_executions_total on /metrics.',
].join(' ');

const INFER_ERRORS = ApiProtocolErrors(
  {
    status: 400,
    description:
      'Inputs that do not fit the model, or binary data that does not add up (header length beyond the body, binary_data_size not matching the datatype and shape, bytes left over)',
    message: "outputs: unknown output 'probs'; the model's outputs are probabilities",
  },
  ...INFERENCE_ERRORS,
);

/**
 * The Open Inference Protocol V2 (kserve/open-inference-protocol, inference_rest.md), as KServe,
 * Triton and MLServer speak it. Thin: the mapper translates, ModelService resolves and runs.
 */
@ApiTags('Open Inference Protocol (V2)')
// The module's validation on its own routes only: a host's routes keep theirs.
@UsePipes(AppValidationPipe)
@Controller('v2')
export class V2Controller {
  constructor(
    private readonly models: ModelService,
    private readonly images: ImageService,
  ) {}

  @Get()
  @ApiOperation({ summary: 'Server metadata' })
  @ApiOkResponse({ type: V2ServerMetadataDto })
  serverMetadata(): V2ServerMetadataDto {
    return toServerMetadata();
  }

  @Get('health/live')
  @ApiOperation({ summary: 'Server live: the process answers HTTP' })
  @ApiOkResponse({ type: V2LiveDto })
  live(): V2LiveDto {
    return { live: true };
  }

  @Get('health/ready')
  @ApiOperation({ summary: 'Server ready: every model loaded and warmed, not shutting down' })
  @ApiOkResponse({ type: V2ReadyDto })
  @ApiServiceUnavailableResponse({ type: V2ReadyDto, description: 'Not ready: {"ready": false}' })
  ready(@Res({ passthrough: true }) res: Response): V2ReadyDto {
    const ready = this.models.isReady();
    if (!ready) res.status(503);
    return { ready };
  }

  // Before models/:name, which would take "stats" for a model name.
  @Get('models/stats')
  @ApiOperation({
    summary: 'Statistics of every loaded model version',
    description: STATISTICS_DESCRIPTION,
  })
  @ApiOkResponse({ type: V2ModelStatisticsDto })
  allStatistics(): V2ModelStatisticsDto {
    return toModelStatistics(this.models.statistics());
  }

  @Get('models/:name/stats')
  @ApiOperation({
    summary: 'Statistics of every loaded version of a model',
    description: STATISTICS_DESCRIPTION,
  })
  @NAME
  @ApiOkResponse({ type: V2ModelStatisticsDto })
  @NOT_FOUND
  modelStatistics(@Param('name') name: string): V2ModelStatisticsDto {
    return toModelStatistics(this.models.statistics(name));
  }

  @Get('models/:name/versions/:version/stats')
  @ApiOperation({ summary: 'Statistics of one model version', description: STATISTICS_DESCRIPTION })
  @NAME
  @VERSION
  @ApiOkResponse({ type: V2ModelStatisticsDto })
  @NOT_FOUND
  versionStatistics(
    @Param('name') name: string,
    @Param('version') version: string,
  ): V2ModelStatisticsDto {
    return toModelStatistics(this.models.statistics(name, version));
  }

  @Get('models/:name')
  @ApiOperation({ summary: 'Model metadata (latest version): versions, platform, inputs, outputs' })
  @NAME
  @ApiOkResponse({ type: V2ModelMetadataDto })
  @NOT_FOUND
  modelMetadata(@Param('name') name: string): V2ModelMetadataDto {
    return toModelMetadata(this.models.resolve(name), this.models.versionsOf(name));
  }

  @Get('models/:name/versions/:version')
  @ApiOperation({ summary: 'Model metadata of one version' })
  @NAME
  @VERSION
  @ApiOkResponse({ type: V2ModelMetadataDto })
  @NOT_FOUND
  versionMetadata(
    @Param('name') name: string,
    @Param('version') version: string,
  ): V2ModelMetadataDto {
    return toModelMetadata(this.models.resolve(name, version), this.models.versionsOf(name));
  }

  @Get('models/:name/ready')
  @ApiOperation({ summary: 'Model ready: some version of it serves' })
  @NAME
  @ApiOkResponse({ type: V2ModelReadyDto })
  @ApiServiceUnavailableResponse({ type: V2ModelReadyDto, description: 'Known but not serving' })
  @NOT_FOUND
  modelReady(
    @Param('name') name: string,
    @Res({ passthrough: true }) res: Response,
  ): V2ModelReadyDto {
    return this.readiness(name, undefined, res);
  }

  @Get('models/:name/versions/:version/ready')
  @ApiOperation({ summary: 'Model version ready' })
  @NAME
  @VERSION
  @ApiOkResponse({ type: V2ModelReadyDto })
  @ApiServiceUnavailableResponse({ type: V2ModelReadyDto, description: 'Known but not serving' })
  @NOT_FOUND
  versionReady(
    @Param('name') name: string,
    @Param('version') version: string,
    @Res({ passthrough: true }) res: Response,
  ): V2ModelReadyDto {
    return this.readiness(name, version, res);
  }

  @Post('models/:name/infer')
  @HttpCode(200)
  @ApiOperation({ summary: 'Inference with the latest version', description: BINARY_DESCRIPTION })
  @NAME
  @INFER_BODY
  @ApiOkResponse({ type: V2InferResponseDto })
  @INFER_ERRORS
  @NOT_FOUND
  infer(
    @Param('name') name: string,
    @V2InferPayload() payload: V2Payload,
    @Res({ passthrough: true }) res: Response,
  ) {
    return this.run(name, undefined, payload, res);
  }

  @Post('models/:name/versions/:version/infer')
  @HttpCode(200)
  @ApiOperation({ summary: 'Inference with one version', description: BINARY_DESCRIPTION })
  @NAME
  @VERSION
  @INFER_BODY
  @ApiOkResponse({ type: V2InferResponseDto })
  @INFER_ERRORS
  @NOT_FOUND
  inferVersion(
    @Param('name') name: string,
    @Param('version') version: string,
    @V2InferPayload() payload: V2Payload,
    @Res({ passthrough: true }) res: Response,
  ) {
    return this.run(name, version, payload, res);
  }

  private async run(
    name: string,
    version: string | undefined,
    payload: V2Payload,
    res: Response,
  ): Promise<V2InferResponseDto | StreamableFile> {
    const model = this.models.resolve(name, version);
    const { body, inputs } = await readInferRequest(model, payload, (m, input, where) =>
      this.images.encodeBytes(m, input, where, currentRequestSignal()),
    );
    const selected = selectOutputs(model, body);
    const binary = binaryOutputs(body, selected, payload.acceptsBinary);
    const outputs = await this.models.infer(model, inputs);
    const reply = toInferResponse(model, body, selected, outputs, binary);
    if (reply.binary.length === 0) return reply.header;
    const header = Buffer.from(JSON.stringify(reply.header));
    const whole = Buffer.concat([header, ...reply.binary]);
    // Canonical casing on the wire: not every client reads header names case-insensitively.
    res.setHeader('Inference-Header-Content-Length', header.length);
    return new StreamableFile(whole, { type: 'application/octet-stream', length: whole.length });
  }

  /** 200 {"ready": true} when serving; 503 {"ready": false} when known but not (loading, failed). */
  private readiness(name: string, version: string | undefined, res: Response): V2ModelReadyDto {
    const ready = this.models.isServing(name, version);
    if (!ready) res.status(503);
    return { name, ready };
  }
}
