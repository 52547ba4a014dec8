import type { AppConfig } from '../config/app-config';
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
  /**
   * Runs one batch; outputs in signature order, batch first. Must not keep the inputs. Adds the
   * time each phase took to `timing` when given (a chunked batch runs several times into one).
   */
  run(inputs: Tensor[], timing?: RunTiming): Promise<Tensor[]>;
  /** Frees everything the model holds. */
  dispose(): void;
}

/**
 * Where a run's time went, in nanoseconds, as Triton's statistics split it: building the
 * runtime's input tensors, the runtime's own inference call, reading its outputs back.
 */
export interface RunTiming {
  inputNs: number;
  inferNs: number;
  outputNs: number;
}

/** Nanoseconds since `start` (a process.hrtime.bigint() reading), exact below 2^53 ns. */
export const nanosSince = (start: bigint): number => Number(process.hrtime.bigint() - start);

/** Memory an engine holds in this thread, summed over its models (for /metrics and leak tests). */
export interface EngineStats {
  tensors: number;
  bytes: number;
}

export interface Engine {
  /**
   * What runs this engine's models when the configuration chooses it per thread (the TF.js
   * backend: wasm, cpu, tensorflow); each thread reports it once started.
   */
  readonly backend?: string;
  /** Loads the model in `dir`; throws with the engine's own message when it cannot. */
  load(dir: string): Promise<EngineModel>;
  stats(): EngineStats;
}

/**
 * One engine as the rest of the server knows it: each engine folder exports exactly one, and
 * registry.ts lists them. The repository scan, the catalog's formats and platforms, the threads'
 * options and the per-engine metrics are all derived from these, so an engine is added by its
 * folder and one line in registry.ts. A descriptor is loaded by the main thread too: its runtime
 * is imported in `create()`, never at the top of the descriptor's file.
 */
export interface EngineDescriptor<Options = unknown> {
  /** Stable short name: the key of its options in the threads, the `engine` label of its metrics. */
  readonly id: string;
  /** The file in a version folder that selects this engine (model.json, model.onnx). */
  readonly file: string;
  /** V2 `platform` of each kind of model it runs, with the `format` GET /models reports for it. */
  readonly platforms: Readonly<Record<string, string>>;
  /** Its settings from the validated configuration: plain data, handed to every thread. */
  options(config: AppConfig): Options;
  /** Builds the engine inside an inference thread, importing its runtime there. */
  create(options: Options): Promise<Engine>;
  /**
   * Created as each thread starts rather than at its first model: a runtime that cannot start
   * then fails the boot, before any model loads, and the thread reports its backend.
   */
  readonly startsWithThread?: boolean;
  /** How the boot log names what runs a version, e.g. "TF.js graph-model on wasm". */
  label(format: string, backend: string): string;
}

/**
 * What an engine throws when its runtime refused a run's inputs (a dimension, a type, an index
 * out of range) instead of failing itself: the client is told the runtime's reason with a 400.
 * `cause` is the runtime's own error, which still decides whether the runtime was left corrupt
 * (isFatal in run-failure.ts): a trap stays fatal whatever the engine calls it.
 */
export class EngineInputError extends Error {
  constructor(cause: unknown) {
    super((cause as Error)?.message ?? String(cause), { cause });
    this.name = 'EngineInputError';
  }
}

/**
 * Runs the runtime's own inference call, where an error is about the inputs: the model passed
 * load and warm-up in this thread, so the runtime works for inputs of its signature. Errors of
 * the engine's own code around that call are not wrapped and stay internal faults.
 */
export async function inputErrorsOf<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    throw new EngineInputError(error);
  }
}
