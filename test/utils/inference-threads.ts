import type { InferencePool } from '../../src/core/inference/inference-pool';

/**
 * Ends one inference thread at once, whatever it runs, the way a crash would: its worker is
 * terminated from outside, and the pool sees an exit it did not ask for.
 */
export function killInferenceThread(pool: InferencePool, index: number): Promise<number> {
  const thread = pool.threads[index];
  if (!thread) throw new Error(`no inference thread ${index}`);
  return thread.worker.terminate();
}
