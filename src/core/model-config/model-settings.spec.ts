import type { ModelConfig } from './model-config';
import { batchOptionsOf, instanceCount } from './model-settings';

const config = (fields: Partial<ModelConfig>): ModelConfig => ({ name: 'simple', ...fields });

describe(instanceCount.name, () => {
  it('should sum the counts of the groups, and leave a model without counts to every thread', () => {
    expect(instanceCount(undefined)).toBeUndefined();
    expect(instanceCount(config({}))).toBeUndefined();
    expect(instanceCount(config({ instance_group: [{ kind: 'KIND_CPU', count: 2 }] }))).toBe(2);
    expect(instanceCount(config({ instance_group: [{ count: 1 }, { count: 3 }] }))).toBe(4);
    expect(instanceCount(config({ instance_group: [{ count: 1 }, { kind: 'KIND_AUTO' }] }))).toBe(
      undefined,
    );
    expect(instanceCount(config({ instance_group: [{ count: 0 }] }))).toBeUndefined();
  });
});

describe(batchOptionsOf.name, () => {
  it('should merge only with dynamic_batching, up to max_batch_size rows, as Triton does', () => {
    expect(batchOptionsOf(config({ max_batch_size: 8 }))).toEqual({ maxRows: 1, timeoutMs: 0 });
    expect(batchOptionsOf(config({ max_batch_size: 0, dynamic_batching: {} }))).toEqual({
      maxRows: 1,
      timeoutMs: 0,
    });
    expect(
      batchOptionsOf(
        config({
          max_batch_size: 8,
          dynamic_batching: { preferred_batch_size: [4, 16], max_queue_delay_microseconds: 2500 },
        }),
      ),
    ).toEqual({ maxRows: 8, timeoutMs: 2.5, preferredRows: [4] });
  });
});
