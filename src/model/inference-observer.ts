/**
 * What the model layer reports about each inference. Defined here, implemented by the metrics
 * module (bound with `useExisting`), so src/model/ needs no metrics or HTTP code of its own.
 */
export abstract class InferenceObserver {
  /** Called once per ModelService.infer(), whether the model ran or threw. */
  abstract observeInference(event: InferenceEvent): void;
}

export interface InferenceEvent {
  model: string;
  version: number;
  instances: number;
  /** Time spent in TF.js: tensors built, model run, outputs read back and disposed. */
  seconds: number;
  ok: boolean;
}

/** A snapshot of the model layer for gauges read at scrape time. */
export interface ModelRuntimeStats {
  numTensors: number;
  numBytes: number;
  models: { name: string; version: number; state: string; loadSeconds: number }[];
}
