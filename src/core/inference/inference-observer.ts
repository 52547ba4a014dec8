import type { EngineStats, RunTiming } from '../../engines/engine';
import type { BatchEvent } from './batch-scheduler';
import type { ThreadSnapshot } from './inference-pool';
import type { VersionStatistics } from './model-statistics';
import type { ThreadStats } from './thread-protocol';

/**
 * What the model layer reports about each inference. Defined here, implemented by the metrics
 * module (bound with `useExisting`), so src/model/ needs no metrics or HTTP code of its own.
 */
export abstract class InferenceObserver {
  /** Called once per ModelService.infer(), whether the model ran or threw. */
  abstract observeInference(event: InferenceEvent): void;
  /** Called once per batch sent to an inference thread. */
  abstract observeBatch(event: BatchEvent): void;
}

export interface InferenceEvent {
  model: string;
  version: number;
  instances: number;
  /** Engine time of the batch the request ran in: tensors built, model run, outputs read back. */
  seconds: number;
  ok: boolean;
  /** From its admission to the version's queue to its answer (or failure). */
  ns: number;
  /** Time it waited in the queue, when it ran. */
  queueNs?: number;
  /** Its batch's engine time by phase, when it ran. */
  compute?: RunTiming;
}

/** A snapshot of the model layer for gauges read at scrape time. */
export interface ModelRuntimeStats {
  /** What each engine holds, by engine id, summed over the inference threads. */
  engines: Record<string, EngineStats>;
  threads: ThreadSnapshot[];
  /** Threads started to replace one that died or could not boot, since the process started. */
  threadReplacements: number;
  queues: { name: string; version: number; requests: number }[];
  models: { name: string; version: number; state: string; loadSeconds: number }[];
  /** Every loaded version's statistics (ModelStatistics): the metrics' request counters. */
  statistics: VersionStatistics[];
}

/** Each engine's memory summed over the threads, by engine id (engines no thread created are absent). */
export function engineTotals(threads: readonly ThreadStats[]): Record<string, EngineStats> {
  const totals: Record<string, EngineStats> = {};
  for (const thread of threads) {
    for (const [id, { tensors, bytes }] of Object.entries(thread.byEngine ?? {})) {
      const total = (totals[id] ??= { tensors: 0, bytes: 0 });
      total.tensors += tensors;
      total.bytes += bytes;
    }
  }
  return totals;
}
