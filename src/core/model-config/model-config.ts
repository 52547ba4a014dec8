/**
 * A model's configuration in Triton's JSON form: the JSON mapping of `ModelConfig` in
 * protos/triton/model_config.proto with the proto's own field names (snake_case), as Triton's
 * `GET /v2/models/{m}/config` answers it and its load API takes it in `parameters.config`.
 * Only the fields this server acts on are typed; the rest are kept as read and reported back.
 *
 * This is the shared contract of the configuration work: `config.pbtxt` and `config.json` are
 * parsed into it, auto-complete fills it from the model file, and the batcher, the inference
 * pool and the version policy read their per-model settings from it.
 */
export interface ModelConfig {
  name: string;
  /** Triton's platform name (onnxruntime_onnx) or this server's (tensorflowjs_graph, ...). */
  platform?: string;
  backend?: string;
  /** 0: the model has no batch dimension; otherwise dims exclude it and batches hold at most this many rows. */
  max_batch_size?: number;
  input?: TensorConfig[];
  output?: TensorConfig[];
  version_policy?: VersionPolicyConfig;
  /** Present (even empty) turns dynamic batching on, as in Triton. */
  dynamic_batching?: DynamicBatchingConfig;
  instance_group?: InstanceGroupConfig[];
  parameters?: Record<string, { string_value: string }>;
  [field: string]: unknown;
}

export interface TensorConfig {
  name: string;
  /** TYPE_FP32, TYPE_INT64, TYPE_STRING, ... (model_config.proto's DataType). */
  data_type: string;
  /** Without the batch dimension when max_batch_size > 0; -1 is a free dimension. */
  dims: number[];
  /** The shape the model itself takes (or gives), when it differs from dims. */
  reshape?: { shape: number[] };
  [field: string]: unknown;
}

/** Exactly one of the three, as in the proto's oneof. */
export type VersionPolicyConfig =
  | { latest: { num_versions: number } }
  | { all: Record<string, never> }
  | { specific: { versions: number[] } };

export interface DynamicBatchingConfig {
  preferred_batch_size?: number[];
  max_queue_delay_microseconds?: number;
  [field: string]: unknown;
}

export interface InstanceGroupConfig {
  name?: string;
  /** KIND_CPU (KIND_AUTO is taken as CPU; there is no GPU here). */
  kind?: string;
  /** How many inference threads hold the model. */
  count?: number;
  [field: string]: unknown;
}
