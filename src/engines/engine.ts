import type { ModelSignature } from '../tensor/signature';
import type { Tensor } from '../tensor/tensor';

/**
 * The one contract every engine meets (TF.js today, ONNX Runtime next), so the registry,
 * batching, protocols, metrics and hot reload never know which engine runs a model.
 * Engines are only ever imported by the inference threads: the main thread never runs a model.
 */
export interface EngineModel {
  /** V2 `platform`: tensorflowjs_layers, tensorflowjs_graph, onnxruntime_onnx. */
  readonly platform: string;
  /** What runs it, as GET /models/{name} reports it: the TF.js backend (wasm), onnxruntime-cpu. */
  readonly backend: string;
  /** Names, dtypes and shapes read from the model itself (-1 = free dimension). */
  readonly signature: ModelSignature;
  /** Runs one batch; outputs in signature order, batch first. Must not keep the inputs. */
  run(inputs: Tensor[]): Promise<Tensor[]>;
  /** Frees everything the model holds. */
  dispose(): void;
}

/** Memory an engine holds in this thread, summed over its models (for /metrics and leak tests). */
export interface EngineStats {
  tensors: number;
  bytes: number;
}

export interface Engine {
  /** The file in a version folder that selects this engine (model.json, model.onnx). */
  readonly file: string;
  /** Loads the model in `dir`; throws with the engine's own message when it cannot. */
  load(dir: string): Promise<EngineModel>;
  stats(): EngineStats;
}
