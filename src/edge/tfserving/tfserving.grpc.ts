import { Injectable, OnModuleInit } from '@nestjs/common';
import type { Options, PackageDefinition } from '@grpc/proto-loader';
import { join } from 'node:path';
import { GrpcCalls } from '../grpc/grpc-calls';
import { GrpcListener } from '../grpc/grpc-listener';
import { loadProtos, PROTOS_DIR } from '../grpc/protos';
import { clip } from '../../errors/client-text';
import { ServingError } from '../../errors/serving-error';
import { ServedModel } from '../../core/catalog/served-model';
import { ModelService } from '../../core/model.service';
import { currentRequestSignal } from '../../core/request-scope';
import { ImageService } from '../../image/image.service';
import type { EncodedTensor } from '../../tensor/tensor';
import {
  decodeStringBytes,
  decodeTensorProto,
  TensorProtoMessage,
  toColumnValue,
  toTensorProto,
} from './tensor-proto';
import { ClassifyResponse, ExamplesVerb, RegressResponse, runExamples } from './tfserving.examples';
import {
  encodePredictRequest,
  labelNotFound,
  SIGNATURE_NAME,
  toMetadata,
  toModelStatus,
} from './tfserving.mapper';

/**
 * TensorFlow Serving's gRPC API (tensorflow_serving/apis/prediction_service.proto and
 * model_service.proto) on the same logic as its REST API: a Predict request is REST's columnar
 * format with typed tensors, Classify and Regress are REST's examples, and metadata and status
 * are REST's answers in their proto form. Messages are as @grpc/proto-loader gives them with
 * TF_SERVING_LOADER_OPTIONS.
 */

export const PREDICTION_SERVICE = 'tensorflow.serving.PredictionService';
export const MODEL_SERVICE = 'tensorflow.serving.ModelService';

/**
 * int64 as decimal strings (every bit of an int64 tensor value, of a version; shapes are read
 * from them exactly), and unset fields left out, so a oneof or a tensor field not sent reads as
 * absent rather than as its default.
 */
export const TF_SERVING_LOADER_OPTIONS: Options = {
  keepCase: true,
  longs: String,
  enums: String,
  defaults: false,
  oneofs: true,
};

/** The TF Serving protos: tensorflow_serving/apis and the tensorflow protos they import. */
export function tfServingDefinition(): PackageDefinition {
  return loadProtos(
    [
      'tensorflow_serving/apis/prediction_service.proto',
      'tensorflow_serving/apis/model_service.proto',
    ],
    join(PROTOS_DIR, 'tfserving'),
    TF_SERVING_LOADER_OPTIONS,
  );
}

/** tensorflow.serving.ModelSpec; `version_choice` names the oneof member set, if any. */
export interface ModelSpecMessage {
  name?: string;
  version?: { value?: string | number } | null;
  version_label?: string;
  version_choice?: 'version' | 'version_label';
  signature_name?: string;
}

export interface PredictRequestMessage {
  model_spec?: ModelSpecMessage | null;
  inputs?: Record<string, TensorProtoMessage>;
  output_filter?: string[];
}

export interface PredictResponseMessage {
  model_spec: ModelSpecMessage;
  outputs: Record<string, TensorProtoMessage>;
}

/** tensorflow.Feature: one of three lists. */
export interface FeatureMessage {
  bytes_list?: { value?: Uint8Array[] } | null;
  float_list?: { value?: number[] } | null;
  int64_list?: { value?: (string | number)[] } | null;
}

export interface ExampleMessage {
  features?: { feature?: Record<string, FeatureMessage> } | null;
}

/** tensorflow.serving.Input: a list of examples, with or without a shared context. */
export interface InputMessage {
  example_list?: { examples?: ExampleMessage[] } | null;
  example_list_with_context?: {
    examples?: ExampleMessage[];
    context?: ExampleMessage | null;
  } | null;
}

export interface ExamplesRequestMessage {
  model_spec?: ModelSpecMessage | null;
  input?: InputMessage | null;
}

export interface ClassificationResponseMessage {
  model_spec: ModelSpecMessage;
  result: { classifications: { classes: { label: string; score: number }[] }[] };
}

export interface RegressionResponseMessage {
  model_spec: ModelSpecMessage;
  result: { regressions: { value: number }[] };
}

export interface GetModelMetadataRequestMessage {
  model_spec?: ModelSpecMessage | null;
  metadata_field?: string[];
}

/** The one metadata field TF Serving defines, answered as a packed SignatureDefMap. */
export const SIGNATURE_DEF_FIELD = 'signature_def';
export const SIGNATURE_DEF_MAP_TYPE = 'type.googleapis.com/tensorflow.serving.SignatureDefMap';

/** What the examples of a Classify or Regress request become: REST's {"examples", "context"}. */
function featuresOf(example: ExampleMessage | null | undefined): Record<string, unknown[]> {
  const features = example?.features?.feature ?? {};
  return Object.fromEntries(
    Object.entries(features).map(([name, feature]) => [name, featureValues(feature)]),
  );
}

/** A feature's values as REST's JSON would carry them: int64 as doubles, bytes as strings. */
function featureValues(feature: FeatureMessage): unknown[] {
  if (feature.float_list) return feature.float_list.value ?? [];
  if (feature.int64_list) return (feature.int64_list.value ?? []).map(Number);
  if (feature.bytes_list)
    return (feature.bytes_list.value ?? []).map((b) => Buffer.from(b).toString());
  return [];
}

export function toExamplesBody(input: InputMessage | null | undefined, signature?: string) {
  const list = input?.example_list ?? input?.example_list_with_context;
  const context = input?.example_list_with_context?.context;
  return {
    signature_name: signature,
    examples: list ? (list.examples ?? []).map(featuresOf) : undefined,
    ...(context ? { context: featuresOf(context) } : {}),
  };
}

const modelSpecOf = (model: ServedModel, signature: string): ModelSpecMessage => ({
  name: model.name,
  version: { value: String(model.version) },
  signature_name: signature,
});

@Injectable()
export class TfServingGrpcService implements OnModuleInit {
  constructor(
    private readonly models: ModelService,
    private readonly images: ImageService,
    private readonly listener: GrpcListener,
    private readonly calls: GrpcCalls,
  ) {}

  /**
   * Serves PredictionService and ModelService on the gRPC listener (when GRPC_PORT is set), every
   * call admitted, timed, counted and logged by GrpcCalls, which maps what is thrown to a status.
   */
  onModuleInit(): void {
    if (!this.listener.enabled) return;
    const packageDefinition = tfServingDefinition();
    this.listener.register({
      name: PREDICTION_SERVICE,
      packageDefinition,
      handlers: {
        Predict: this.calls.unary((request: PredictRequestMessage) => this.predict(request)),
        Classify: this.calls.unary((request: ExamplesRequestMessage) => this.classify(request)),
        Regress: this.calls.unary((request: ExamplesRequestMessage) => this.regress(request)),
        GetModelMetadata: this.calls.unary((request: GetModelMetadataRequestMessage) =>
          this.getModelMetadata(request),
        ),
        MultiInference: this.calls.unary(() => {
          throw new ServingError(
            'UNIMPLEMENTED',
            'MultiInference is not implemented by this server; call Classify or Regress',
          );
        }),
      },
    });
    this.listener.register({
      name: MODEL_SERVICE,
      packageDefinition,
      handlers: {
        GetModelStatus: this.calls.unary((request: { model_spec?: ModelSpecMessage }) =>
          this.getModelStatus(request),
        ),
      },
    });
  }

  /** The model a ModelSpec names: a name is required; a version, if set, is REST's /versions/{v}. */
  resolve(spec: ModelSpecMessage | null | undefined): ServedModel {
    const name = this.nameOf(spec);
    if (spec?.version_choice === 'version_label') throw this.labelNotFound(name, spec);
    return this.models.resolve(name, this.versionOf(spec));
  }

  async predict(request: PredictRequestMessage): Promise<PredictResponseMessage> {
    const model = this.resolve(request.model_spec);
    const wanted = selectOutputs(model, request.output_filter ?? []);
    const tensors =
      (await this.encodeImages(model, request.inputs ?? {})) ?? this.encodeInputs(model, request);
    const outputs = await this.models.infer(model, tensors);
    return {
      model_spec: modelSpecOf(model, SIGNATURE_NAME),
      outputs: Object.fromEntries(wanted.map((name) => [name, toTensorProto(outputs[name])])),
    };
  }

  /** As REST's columnar format, each TensorProto read into the value "inputs" would carry. */
  private encodeInputs(model: ServedModel, request: PredictRequestMessage): EncodedTensor[] {
    const inputs: Record<string, unknown> = {};
    for (const [name, proto] of Object.entries(request.inputs ?? {})) {
      inputs[name] = toColumnValue(decodeTensorProto(proto, `inputs.${clip(name)}`));
    }
    const signature = request.model_spec?.signature_name;
    return encodePredictRequest(model, { signature_name: signature, inputs }).tensors;
  }

  /**
   * A model whose metadata.json declares an image block, and takes nothing else, takes its image
   * input as encoded files in a DT_STRING tensor, as REST takes {"b64": ...} rows (ImageService
   * decodes both). Undefined for anything else, which the codec then reads as values.
   */
  private async encodeImages(
    model: ServedModel,
    inputs: Record<string, TensorProtoMessage>,
  ): Promise<EncodedTensor[] | undefined> {
    const entries = Object.entries(inputs);
    const imageOnly = model.metadata.image !== undefined && model.signature.inputs.length === 1;
    if (!imageOnly || entries.length !== 1 || entries[0][1].dtype !== 'DT_STRING') return undefined;
    const [[name, proto]] = entries;
    const where = `inputs.${clip(name)}`;
    return [
      await this.images.encodeInput(
        model,
        name,
        decodeStringBytes(proto, where),
        where,
        currentRequestSignal(),
      ),
    ];
  }

  async classify(request: ExamplesRequestMessage): Promise<ClassificationResponseMessage> {
    const { model, answer } = await this.examples(request, 'classify');
    const { results } = answer as ClassifyResponse;
    return {
      model_spec: modelSpecOf(model, request.model_spec?.signature_name || SIGNATURE_NAME),
      result: {
        classifications: results.map((pairs) => ({
          classes: pairs.map(([label, score]) => ({ label, score })),
        })),
      },
    };
  }

  async regress(request: ExamplesRequestMessage): Promise<RegressionResponseMessage> {
    const { model, answer } = await this.examples(request, 'regress');
    const { results } = answer as RegressResponse;
    return {
      model_spec: modelSpecOf(model, request.model_spec?.signature_name || SIGNATURE_NAME),
      result: { regressions: results.map((value) => ({ value })) },
    };
  }

  /** REST's /metadata answer, its SignatureDefMap packed in a google.protobuf.Any. */
  getModelMetadata(request: GetModelMetadataRequestMessage) {
    const fields = request.metadata_field ?? [];
    if (fields.length === 0) {
      throw ServingError.invalid(
        `metadata_field is empty; ask for "${SIGNATURE_DEF_FIELD}", the metadata this server answers`,
      );
    }
    const other = fields.find((field) => field !== SIGNATURE_DEF_FIELD);
    if (other !== undefined) {
      throw ServingError.invalid(
        `metadata_field '${clip(other)}' is not supported; this server answers "${SIGNATURE_DEF_FIELD}"`,
      );
    }
    const { model_spec, metadata } = toMetadata(this.resolve(request.model_spec));
    const signatures = metadata[SIGNATURE_DEF_FIELD] as Record<string, unknown>;
    return {
      model_spec: { ...model_spec, version: { value: model_spec.version } },
      // protobufjs packs an object with "@type" into the Any (google/protobuf/any wrapper).
      metadata: { [SIGNATURE_DEF_FIELD]: { '@type': SIGNATURE_DEF_MAP_TYPE, ...signatures } },
    };
  }

  /** REST's status answer: every version of the model, or the one named. */
  getModelStatus(request: { model_spec?: ModelSpecMessage | null }) {
    const spec = request.model_spec;
    const name = this.nameOf(spec);
    if (spec?.version_choice === 'version_label') throw this.labelNotFound(name, spec);
    return toModelStatus(this.models.statusOf(name, this.versionOf(spec)));
  }

  private async examples(request: ExamplesRequestMessage, verb: ExamplesVerb) {
    const model = this.resolve(request.model_spec);
    const body = toExamplesBody(request.input, request.model_spec?.signature_name);
    return { model, answer: await runExamples(this.models, model, verb, body) };
  }

  private nameOf(spec: ModelSpecMessage | null | undefined): string {
    if (spec?.name) return spec.name;
    throw ServingError.invalid(
      `model_spec.name is empty; name the model to run (available models: ${this.models.modelNames().join(', ')})`,
    );
  }

  /** A set version as REST's path would spell it, so it is checked with the same words. */
  private versionOf(spec: ModelSpecMessage | null | undefined): string | undefined {
    if (spec?.version_choice !== 'version') return undefined;
    return String(spec.version?.value ?? 0);
  }

  private labelNotFound(name: string, spec: ModelSpecMessage) {
    const versions = this.models.versionsOf(name);
    return labelNotFound(name, spec.version_label ?? '', versions, 'set model_spec.version');
  }
}

/** The outputs a Predict answers: every one, or those output_filter names, each known and once. */
export function selectOutputs(model: ServedModel, filter: string[]): string[] {
  const names = model.signature.outputs.map((spec) => spec.name);
  if (filter.length === 0) return names;
  filter.forEach((name, i) => {
    if (!names.includes(name)) {
      throw ServingError.invalid(
        `output_filter[${i}]: unknown output '${clip(name)}'; the model's outputs are ${names.join(', ')}`,
      );
    }
    if (filter.indexOf(name) !== i) {
      throw ServingError.invalid(`output_filter[${i}]: output '${name}' is named twice`);
    }
  });
  return filter;
}
