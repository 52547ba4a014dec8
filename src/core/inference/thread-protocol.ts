import type { EngineStats, RunTiming } from '../../engines/engine';
import type { ServingErrorData } from '../../errors/serving-error';
import type { ModelSignature } from '../../tensor/signature';
import type { Tensor } from '../../tensor/tensor';

/**
 * The messages between the main thread and an inference thread. Only plain data crosses:
 * tensors as typed arrays (transferred, never copied as JSON), errors as ServingErrorData
 * (an Error class does not survive postMessage).
 */

/** Given to every thread at start (workerData). */
export interface ThreadOptions {
  /** Each engine's own settings by engine id, as its descriptor reads them (engineOptions). */
  engines: Record<string, unknown>;
}

export type ThreadRequest =
  | { id: number; op: 'load'; key: string; dir: string }
  | { id: number; op: 'run'; key: string; inputs: Tensor[] }
  | { id: number; op: 'unload'; key: string }
  | { id: number; op: 'close' };

/**
 * Every reply carries the thread's memory after the work it answers, so the main thread always
 * knows it without asking: a question would wait behind the batch running there. `fatal` says
 * the error may have left the engine's runtime in an unknown state (a wasm trap, an allocation
 * that failed): the thread takes no more work and is replaced.
 */
export type ThreadReply = { id: number; stats: ThreadStats } & (
  { ok: true; result: unknown } | { ok: false; error: ServingErrorData; fatal?: boolean }
);

/** The first message a thread sends: its backend is up (or why it is not). */
export type ThreadHello = { hello: true; backend: string } | { hello: false; error: string };

/** What loading one version in a thread found: the same in every thread, or the load fails. */
export interface LoadReport {
  platform: string;
  backend: string;
  signature: ModelSignature;
  /** Every input has a free batch dimension and every output's first dimension follows it. */
  batchMajor: boolean;
  loadMs: number;
  warmupMs: number;
}

export interface RunReport {
  outputs: Tensor[];
  /** Time the engine took for the whole batch (tensors in, run, outputs read back). */
  seconds: number;
  /** The same split by phase (statistics' compute_input, compute_infer, compute_output). */
  compute: RunTiming;
}

export interface ThreadStats {
  tensors: number;
  bytes: number;
  /** The same by engine id, for engines this thread has created. */
  byEngine?: Record<string, EngineStats>;
}
