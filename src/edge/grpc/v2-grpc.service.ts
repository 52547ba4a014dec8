import { Injectable, OnModuleInit } from '@nestjs/common';
import type { Metadata } from '@grpc/grpc-js';
import { join } from 'node:path';
import { AppConfig } from '../../config/app-config';
import { ModelService } from '../../core/model.service';
import { clip } from '../../errors/client-text';
import { ServingError } from '../../errors/serving-error';
import { ImageService } from '../../image/image.service';
import { ADMIN_KEY_HEADER, checkAdminKey, GRPC_ADMIN_KEY_HEADER } from '../admission/admin-key';
import {
  readInferRequest,
  selectOutputs,
  toInferResponse,
  toModelMetadata,
  toServerMetadata,
} from '../v2/v2.mapper';
import { toModelStatistics } from '../v2/v2-statistics.mapper';
import { CallError, GrpcCalls } from './grpc-calls';
import { GrpcListener } from './grpc-listener';
import { loadProtos, PROTOS_DIR, serviceOf } from './protos';
import {
  ModelInferRequest,
  ModelInferResponse,
  toModelInferResponse,
  toV2Payload,
} from './v2-grpc.mapper';

export const INFERENCE_SERVICE = 'inference.GRPCInferenceService';

/** Triton's own grpc_service.proto (protos/triton), which imports model_config.proto beside it. */
export const loadInferenceProtos = () =>
  loadProtos(['grpc_service.proto'], join(PROTOS_DIR, 'triton'));

/** An error travels in error_message, with the request's id, and the stream goes on. */
interface ModelStreamInferResponse {
  error_message: string;
  infer_response: Partial<ModelInferResponse>;
}

interface ModelRef {
  name: string;
  version: string;
}

/** Empty strings are proto3's "not set": a version is optional, a model name is not. */
function modelName(name: string, field: string): string {
  if (!name) throw ServingError.invalid(`${field} is required: name the model`);
  return name;
}

const versionOf = (version: string) => (version === '' ? undefined : version);

/** ModelRepositoryParameter as the loader gives it: the oneof's chosen field is named. */
interface RepositoryParameter {
  parameter_choice?: 'bool_param' | 'int64_param' | 'string_param' | 'bytes_param';
  bool_param: boolean;
  int64_param: number;
  string_param: string;
  bytes_param: Buffer;
}

interface RepositoryRequest {
  repository_name: string;
  model_name: string;
  parameters: Record<string, RepositoryParameter>;
}

/** `parameters.config` of RepositoryModelLoad: a string_param holding JSON, or nothing. */
function configParameter(request: RepositoryRequest): string | undefined {
  const name = request.model_name;
  const unknown = Object.keys(request.parameters ?? {}).find((key) => key !== 'config');
  if (unknown !== undefined) {
    throw ServingError.invalid(
      `failed to load '${clip(name)}': parameters.${clip(unknown)} is not supported; RepositoryModelLoad takes parameters.config (Triton's model configuration as a JSON string_param)`,
    );
  }
  const config = request.parameters?.config;
  if (config === undefined) return undefined;
  if (config.parameter_choice === 'string_param') return config.string_param;
  if (config.parameter_choice === 'bytes_param') return config.bytes_param.toString('utf8');
  throw ServingError.invalid(
    `failed to load '${clip(name)}': parameters.config must be a string_param holding JSON, got ${config.parameter_choice ?? 'no value'}`,
  );
}

/** The admin key a call carries: Triton's `triton-grpc-protocol-admin-key`, or plain `admin-key`. */
function adminKeyOf(metadata: Metadata): string | undefined {
  const value = [...metadata.get(GRPC_ADMIN_KEY_HEADER), ...metadata.get(ADMIN_KEY_HEADER)][0];
  return value === undefined ? undefined : String(value);
}

/** One repository of models here: a name, when given, must be empty as Triton's default. */
function checkRepository(request: { repository_name: string }): void {
  if (request.repository_name) {
    throw ServingError.invalid(
      `repository_name '${clip(request.repository_name)}' is not a repository of this server: it serves one (MODEL_DIR); leave repository_name empty`,
    );
  }
}
/** Triton's other RPCs (system and CUDA shared memory, trace and log settings): no counterpart here. */
const notServed = (method: string) =>
  `${method} is not implemented: this server has no shared memory (system or CUDA), trace settings or log settings; tensors travel in ModelInfer's contents or raw_input_contents`;

/**
 * The Open Inference Protocol V2 over gRPC (inference.GRPCInferenceService, Triton's
 * grpc_service.proto): the HTTP V2 route's semantics and error messages, through its mapper and
 * ModelService's public methods; every call admitted, timed and counted by GrpcCalls.
 */
@Injectable()
export class V2GrpcService implements OnModuleInit {
  constructor(
    private readonly listener: GrpcListener,
    private readonly calls: GrpcCalls,
    private readonly models: ModelService,
    private readonly images: ImageService,
    private readonly config: AppConfig,
  ) {}

  onModuleInit(): void {
    if (!this.listener.enabled) return;
    const packageDefinition = loadInferenceProtos();
    // Every RPC of Triton's service has a handler (those served below replace theirs), so that a
    // call to one this server lacks is admitted and counted as any other and says why.
    const unimplemented = Object.fromEntries(
      Object.keys(serviceOf(packageDefinition, INFERENCE_SERVICE)).map((method) => [
        method,
        this.calls.unary(() => {
          throw new ServingError('UNIMPLEMENTED', notServed(method));
        }),
      ]),
    );
    this.listener.register({
      name: INFERENCE_SERVICE,
      packageDefinition,
      handlers: {
        ...unimplemented,
        ServerLive: this.calls.unary(() => ({ live: true })),
        ServerReady: this.calls.unary(() => ({
          ready: this.models.isReady() && this.listener.serving,
        })),
        ModelReady: this.calls.unary((request: ModelRef) => ({
          ready: this.models.isServing(modelName(request.name, 'name'), versionOf(request.version)),
        })),
        ServerMetadata: this.calls.unary(() => toServerMetadata()),
        ModelMetadata: this.calls.unary((request: ModelRef) => {
          const name = modelName(request.name, 'name');
          return toModelMetadata(
            this.models.resolve(name, versionOf(request.version)),
            this.models.versionsOf(name),
          );
        }),
        // The effective configuration in its JSON form is the proto message's object form.
        ModelConfig: this.calls.unary((request: ModelRef) => ({
          config: this.models.resolve(modelName(request.name, 'name'), versionOf(request.version))
            .config,
        })),
        // As GET /v2/models[/{name}[/versions/{version}]]/stats: proto3's "" is "not given".
        ModelStatistics: this.calls.unary((request: ModelRef) => {
          if (!request.name && request.version) {
            throw ServingError.invalid(
              `version '${clip(request.version)}' is given without a name: name the model whose version you ask for`,
            );
          }
          return toModelStatistics(
            this.models.statistics(request.name || undefined, versionOf(request.version)),
          );
        }),
        ModelInfer: this.calls.unary((request: ModelInferRequest) => this.infer(request)),
        RepositoryIndex: this.calls.unary(
          async (request: { repository_name: string; ready: boolean }, call) => {
            this.checkKey(call.metadata);
            checkRepository(request);
            const index = await this.models.repositoryIndex(request.ready);
            return { models: index.map((entry) => ({ ...entry, version: entry.version ?? '' })) };
          },
        ),
        RepositoryModelLoad: this.calls.unary(async (request: RepositoryRequest, call) => {
          this.checkKey(call.metadata);
          checkRepository(request);
          const name = modelName(request.model_name, 'model_name');
          await this.models.loadModel(name, configParameter(request));
          return {};
        }),
        RepositoryModelUnload: this.calls.unary(async (request: RepositoryRequest, call) => {
          this.checkKey(call.metadata);
          checkRepository(request);
          await this.models.unloadModel(modelName(request.model_name, 'model_name'));
          return {};
        }),
        ModelStreamInfer: this.calls.bidi(
          async (request: ModelInferRequest): Promise<ModelStreamInferResponse> => ({
            error_message: '',
            infer_response: await this.infer(request),
          }),
          (error: CallError, request: ModelInferRequest): ModelStreamInferResponse => ({
            error_message: error.message,
            infer_response: {
              model_name: request.model_name,
              model_version: request.model_version,
              id: request.id,
            },
          }),
        ),
      },
    });
  }

  private checkKey(metadata: Metadata): void {
    checkAdminKey(this.config.ADMIN_API_KEY, adminKeyOf(metadata), 'grpc');
  }

  /** As POST /v2/models/{name}[/versions/{version}]/infer with every output as binary data. */
  private async infer(request: ModelInferRequest): Promise<ModelInferResponse> {
    const model = this.models.resolve(
      modelName(request.model_name, 'model_name'),
      versionOf(request.model_version),
    );
    const payload = toV2Payload(request);
    const { body, inputs } = await readInferRequest(model, payload, (m, input, where) =>
      this.images.encodeBytes(m, input, where),
    );
    const selected = selectOutputs(model, body);
    const outputs = await this.models.infer(model, inputs);
    const reply = toInferResponse(
      model,
      body,
      selected,
      outputs,
      new Set(selected.map((spec) => spec.name)),
    );
    return toModelInferResponse(reply, request.id);
  }
}
