import type { BatchOptions } from '../inference/batch-scheduler';
import type { ModelConfig } from './model-config';

/** Instance kinds a model may ask for: its threads are CPU threads (KIND_AUTO is taken as CPU). */
const CPU_KINDS = new Set(['KIND_CPU', 'KIND_AUTO']);

/**
 * How many inference threads hold the model, from its instance_group (summed over the groups,
 * each of `count` 1 unless set, as in Triton); undefined without one: every thread. Throws,
 * naming the file and the field, for a kind other than CPU (there is no GPU here) and a count
 * that is not a positive integer.
 */
export function instanceCount(config: ModelConfig | undefined, file: string): number | undefined {
  const groups = config?.instance_group;
  if (groups === undefined) return undefined;
  if (!Array.isArray(groups) || groups.length === 0) return undefined;
  let total = 0;
  groups.forEach((group, i) => {
    const kind = group.kind ?? 'KIND_AUTO';
    if (!CPU_KINDS.has(kind)) {
      throw new Error(
        `${file}: instance_group[${i}].kind is ${kind}; this server runs models on CPU inference threads only (no GPU): use KIND_CPU or KIND_AUTO`,
      );
    }
    const count = group.count ?? 1;
    if (!Number.isInteger(count) || count < 1) {
      throw new Error(
        `${file}: instance_group[${i}].count must be a positive integer (inference threads holding the model); got ${JSON.stringify(count)}`,
      );
    }
    total += count;
  });
  return total;
}

/**
 * How a version's requests are batched, from its configuration, as Triton batches: up to
 * max_batch_size rows, merged only with `dynamic_batching` present (waiting up to its
 * max_queue_delay_microseconds, sent at once on a preferred_batch_size). max_batch_size 0 (no
 * batch dimension) is never merged. Undefined without a configuration file: the server's
 * BATCH_MAX_SIZE and BATCH_TIMEOUT_MS apply, as they always have.
 */
export function batchOptionsOf(config: ModelConfig | undefined): BatchOptions | undefined {
  if (!config) return undefined;
  const maxRows = config.max_batch_size ?? 0;
  const dynamic = config.dynamic_batching;
  if (!dynamic || maxRows <= 0) return { maxRows: 1, timeoutMs: 0 };
  return {
    maxRows,
    timeoutMs: (dynamic.max_queue_delay_microseconds ?? 0) / 1000,
    preferredRows: (dynamic.preferred_batch_size ?? []).filter((size) => size <= maxRows),
  };
}

/**
 * Refuses a request with more rows than its model's max_batch_size, in Triton's words. Only for a
 * model with a configuration file: without one, a request larger than BATCH_MAX_SIZE runs alone,
 * as it always has, so no existing client breaks.
 */
export function tooManyRows(
  config: ModelConfig | undefined,
  name: string,
  rows: number,
): string | undefined {
  const max = config?.max_batch_size;
  if (max === undefined || max <= 0 || rows <= max) return undefined;
  return `inference request batch-size must be <= ${max} for '${name}'`;
}
