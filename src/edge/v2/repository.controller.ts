import { Body, Controller, HttpCode, Param, Post, UseGuards, UsePipes } from '@nestjs/common';
import {
  ApiBody,
  ApiHeader,
  ApiOkResponse,
  ApiOperation,
  ApiParam,
  ApiTags,
} from '@nestjs/swagger';
import { ModelService, RepositoryIndexEntry } from '../../core/model.service';
import { clip } from '../../errors/client-text';
import { ServingError } from '../../errors/serving-error';
import { ADMIN_KEY_HEADER, AdminKeyGuard } from '../admission/admin-key';
import { AppValidationPipe } from '../body/app-validation.pipe';
import { ApiProtocolErrors } from '../errors/protocol-error';
import {
  RepositoryIndexEntryDto,
  RepositoryIndexRequestDto,
  RepositoryLoadRequestDto,
  RepositoryUnloadRequestDto,
} from './dto/repository.dto';

const NAME = ApiParam({ name: 'name', example: 'iris', description: 'Model name' });
const ADMIN_KEY = ApiHeader({
  name: ADMIN_KEY_HEADER,
  required: false,
  description: 'ADMIN_API_KEY, when the server sets one (401 without it, 403 with another)',
  schema: { type: 'string', example: 'change-me-to-a-long-secret' },
});
const RESTRICTED = ApiProtocolErrors(
  {
    status: 401,
    description: 'ADMIN_API_KEY is set and the admin-key header is missing',
    message:
      "This API is restricted, expecting header 'admin-key': repository calls need the server's ADMIN_API_KEY",
  },
  {
    status: 403,
    description: 'The admin-key header is not ADMIN_API_KEY',
    message:
      "This API is restricted, expecting header 'admin-key': the key sent is not the server's ADMIN_API_KEY",
  },
);
const CONTROL_DISABLED = ApiProtocolErrors({
  status: 503,
  description: 'MODEL_CONTROL_MODE is not explicit',
  message:
    'explicit model load / unload is not allowed if polling is enabled; MODEL_CONTROL_MODE=none: the models loaded at boot are fixed, or start the server with MODEL_CONTROL_MODE=explicit',
});

/** `parameters.config` of a load request: a string holding JSON, or nothing. */
function configParameter(
  name: string,
  parameters: Record<string, unknown> = {},
): string | undefined {
  const unknown = Object.keys(parameters).find((key) => key !== 'config');
  if (unknown !== undefined) {
    throw ServingError.invalid(
      `failed to load '${clip(name)}': parameters.${clip(unknown)} is not supported; a load request takes parameters.config (Triton's model configuration as a JSON string)`,
    );
  }
  const config = parameters.config;
  if (config === undefined || typeof config === 'string') return config;
  throw ServingError.invalid(
    `failed to load '${clip(name)}': parameters.config must be a string holding JSON, got ${Array.isArray(config) ? 'an array' : typeof config}; e.g. "config": "{\\"max_batch_size\\": 8}"`,
  );
}

/**
 * Triton's model repository extension (extension_model_repository.md): the index of the models
 * on disk, and load and unload by name when MODEL_CONTROL_MODE=explicit. Restricted to callers
 * with the admin key when ADMIN_API_KEY is set.
 */
@ApiTags('Open Inference Protocol (V2)')
@UsePipes(AppValidationPipe)
@UseGuards(AdminKeyGuard)
@Controller('v2/repository')
export class RepositoryController {
  constructor(private readonly models: ModelService) {}

  @Post('index')
  @HttpCode(200)
  @ApiOperation({
    summary: 'Repository index: every model on disk, loaded or not, with its state and reason',
  })
  @ADMIN_KEY
  @ApiBody({
    type: RepositoryIndexRequestDto,
    required: false,
    examples: {
      all: { summary: 'Every model, loaded or not', value: {} },
      ready: { summary: 'Only the models ready for inference', value: { ready: true } },
    },
  })
  @ApiOkResponse({ type: RepositoryIndexEntryDto, isArray: true })
  @RESTRICTED
  index(@Body() body: RepositoryIndexRequestDto = {}): Promise<RepositoryIndexEntry[]> {
    return this.models.repositoryIndex(body?.ready === true);
  }

  @Post('models/:name/load')
  @HttpCode(200)
  @ApiOperation({
    summary: 'Load or reload a model (MODEL_CONTROL_MODE=explicit): warmed before it serves',
  })
  @NAME
  @ADMIN_KEY
  @ApiBody({
    type: RepositoryLoadRequestDto,
    required: false,
    examples: {
      plain: { summary: "With the model's own configuration", value: {} },
      override: {
        summary: 'With a configuration replacing its own for this load',
        value: { parameters: { config: '{"max_batch_size": 8}' } },
      },
    },
  })
  @ApiOkResponse({ description: 'Loaded: every version its policy serves is ready' })
  @ApiProtocolErrors(
    {
      status: 400,
      description: 'The load failed (the model keeps serving what it served)',
      message: "failed to load 'iris': parameters.config is not valid JSON (...)",
    },
    {
      status: 404,
      description: 'No model folder of that name',
      message:
        "failed to load 'irsi', failed to poll from model repository: MODEL_DIR has no model folder of that name; its models: iris",
    },
  )
  @RESTRICTED
  @CONTROL_DISABLED
  async load(
    @Param('name') name: string,
    @Body() body: RepositoryLoadRequestDto = {},
  ): Promise<Record<string, never>> {
    await this.models.loadModel(name, configParameter(name, body?.parameters));
    return {};
  }

  @Post('models/:name/unload')
  @HttpCode(200)
  @ApiOperation({
    summary:
      'Unload a model (MODEL_CONTROL_MODE=explicit): new requests stop at once, queued and running ones finish first',
  })
  @NAME
  @ADMIN_KEY
  @ApiBody({
    type: RepositoryUnloadRequestDto,
    required: false,
    examples: {
      plain: { summary: 'Unload', value: {} },
      triton: {
        summary: "As Triton's clients send it",
        value: { parameters: { unload_dependents: false } },
      },
    },
  })
  @ApiOkResponse({ description: 'Unloaded: every thread freed it' })
  @ApiProtocolErrors({
    status: 404,
    description: 'Unknown model',
    message: "Request for unknown model: 'irsi' is not found; available models: iris",
  })
  @RESTRICTED
  @CONTROL_DISABLED
  async unload(
    @Param('name') name: string,
    // Validated for its shape only: Triton's unload_dependents has nothing to act on here.
    @Body() _body: RepositoryUnloadRequestDto = {},
  ): Promise<Record<string, never>> {
    await this.models.unloadModel(name);
    return {};
  }
}
