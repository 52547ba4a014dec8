import type { ModelConfig } from './model-config';
import { batchOptionsOf, instanceCount, tooManyRows } from './model-settings';

const config = (fields: Partial<ModelConfig>): ModelConfig => ({ name: 'simple', ...fields });

describe(instanceCount.name, () => {
  it('should sum the counts of the CPU groups, each 1 unless set, and leave no group to every thread', () => {
    expect(instanceCount(undefined, 'f')).toBeUndefined();
    expect(instanceCount(config({}), 'f')).toBeUndefined();
    expect(instanceCount(config({ instance_group: [{ kind: 'KIND_CPU', count: 2 }] }), 'f')).toBe(
      2,
    );
    expect(
      instanceCount(config({ instance_group: [{ kind: 'KIND_AUTO' }, { count: 3 }] }), 'f'),
    ).toBe(4);
  });

  it('should refuse a GPU group and a count that is not a positive integer, naming the file and field', () => {
    expect(() =>
      instanceCount(
        config({ instance_group: [{ count: 1 }, { kind: 'KIND_GPU' }] }),
        '/m/config.pbtxt',
      ),
    ).toThrow(
      '/m/config.pbtxt: instance_group[1].kind is KIND_GPU; this server runs models on CPU inference threads only (no GPU): use KIND_CPU or KIND_AUTO',
    );
    expect(() => instanceCount(config({ instance_group: [{ count: 0 }] }), 'f')).toThrow(
      'f: instance_group[0].count must be a positive integer (inference threads holding the model); got 0',
    );
  });
});

describe(batchOptionsOf.name, () => {
  it('should leave a model without a configuration file to the server options', () => {
    expect(batchOptionsOf(undefined)).toBeUndefined();
  });

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

describe(tooManyRows.name, () => {
  it("should refuse more rows than max_batch_size in Triton's words, and nothing without a limit", () => {
    expect(tooManyRows(config({ max_batch_size: 8 }), 'simple', 9)).toBe(
      "inference request batch-size must be <= 8 for 'simple'",
    );
    expect(tooManyRows(config({ max_batch_size: 8 }), 'simple', 8)).toBeUndefined();
    expect(tooManyRows(config({ max_batch_size: 0 }), 'simple', 100)).toBeUndefined();
    expect(tooManyRows(undefined, 'simple', 100)).toBeUndefined();
  });
});
