import { Injectable, OnModuleInit } from '@nestjs/common';
import { join } from 'node:path';
import { ModelService } from '../../core/model.service';
import { clip } from '../../errors/client-text';
import { ServingError } from '../../errors/serving-error';
import { ImageService } from '../../image/image.service';
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

/** Triton's RPCs that need a model repository API this server does not have yet (issue 16). */
const NOT_YET: Record<string, string> = {
  ModelConfig:
    "ModelConfig is not implemented: this server has no Triton model configuration to return; ModelMetadata gives a model's inputs, outputs and versions",
  RepositoryIndex:
    'RepositoryIndex is not implemented: GET /v1/models lists the served models over HTTP',
  RepositoryModelLoad:
    'RepositoryModelLoad is not implemented: models are loaded from MODEL_DIR at startup and by hot reload (add a version folder)',
  RepositoryModelUnload:
    'RepositoryModelUnload is not implemented: models are unloaded by hot reload (remove the version folder from MODEL_DIR)',
};

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
          throw new ServingError('UNIMPLEMENTED', NOT_YET[method] ?? notServed(method));
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
