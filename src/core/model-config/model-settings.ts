import type { BatchOptions } from '../inference/batch-scheduler';
import type { ModelConfig } from './model-config';

/**
 * How many inference threads hold the model, read from the user's instance_group before its
 * load (the effective configuration only exists after it): the groups' counts summed. Undefined,
 * every thread, without a group or when a group gives no count (auto-complete then writes
 * INFERENCE_THREADS). A count that is not a positive integer, or a kind other than CPU, fails
 * the load once the configuration is checked against the model, naming the file and the field.
 */
export function instanceCount(config: ModelConfig | undefined): number | undefined {
  const groups = config?.instance_group;
  if (!Array.isArray(groups) || groups.length === 0) return undefined;
  const counts = groups.map((group) => group.count);
  if (!counts.every((count) => Number.isInteger(count) && count! > 0)) return undefined;
  return counts.reduce((total: number, count) => total + count!, 0);
}

/**
 * How a version's requests are batched, from its effective configuration, as Triton batches: up
 * to max_batch_size rows, merged only with `dynamic_batching` (waiting up to its
 * max_queue_delay_microseconds, sent at once on a preferred_batch_size). max_batch_size 0 (no
 * batch dimension) is never merged.
 */
export function batchOptionsOf(config: ModelConfig): BatchOptions {
  const maxRows = config.max_batch_size ?? 0;
  const dynamic = config.dynamic_batching;
  if (!dynamic || maxRows <= 0) return { maxRows: 1, timeoutMs: 0 };
  return {
    maxRows,
    timeoutMs: (dynamic.max_queue_delay_microseconds ?? 0) / 1000,
    preferredRows: (dynamic.preferred_batch_size ?? []).filter((size) => size <= maxRows),
  };
}
