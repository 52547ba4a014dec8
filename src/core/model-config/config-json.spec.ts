import { ConfigFieldError, normalizeConfigJson } from './config-json';
import { modelConfigDescriptor } from './model-config-proto';

const normalize = (json: Record<string, unknown>) =>
  normalizeConfigJson(json, modelConfigDescriptor());

describe(normalizeConfigJson.name, () => {
  it("should read Triton's own JSON (int64 as strings), turn enum numbers into names, and leave unknown fields out", () => {
    expect(
      normalize({
        name: 'simple',
        max_batch_size: 8,
        input: [{ name: 'INPUT0', data_type: 'TYPE_INT32', dims: ['16'], colour: 'red' }],
        output: [{ name: 'OUTPUT0', data_type: 8, dims: [16] }],
        dynamic_batching: { max_queue_delay_microseconds: '100' },
        version_policy: { specific: { versions: ['1', 3] } },
        parameters: { k: { string_value: 'v' } },
        max_batch_sise: 4,
        optimization: null,
      }),
    ).toEqual({
      message: {
        name: 'simple',
        max_batch_size: 8,
        input: [{ name: 'INPUT0', data_type: 'TYPE_INT32', dims: [16] }],
        output: [{ name: 'OUTPUT0', data_type: 'TYPE_INT32', dims: [16] }],
        dynamic_batching: { max_queue_delay_microseconds: 100 },
        version_policy: { specific: { versions: [1, 3] } },
        parameters: { k: { string_value: 'v' } },
      },
      unknown: ['input[0].colour', 'max_batch_sise'],
    });
  });

  it.each<[Record<string, unknown>, string, string]>([
    [{ max_batch_size: '8x' }, 'max_batch_size', 'expected an integer (int32), got string'],
    [{ max_batch_size: 8.5 }, 'max_batch_size', 'expected an integer (int32), got 8.5'],
    [{ input: { name: 'x' } }, 'input', 'expected a list, got object'],
    [{ input: [{ name: 'x', dims: 4 }] }, 'input[0].dims', 'expected a list, got number'],
    [
      { input: [{ name: 'x', data_type: 'FP32' }] },
      'input[0].data_type',
      expect.stringMatching(
        /^"FP32" is not a DataType; expected one of TYPE_INVALID, TYPE_BOOL/,
      ) as never,
    ],
    [{ name: 4 }, 'name', 'expected a string, got number'],
    [
      { dynamic_batching: [] },
      'dynamic_batching',
      'expected an object (ModelDynamicBatching), got a list',
    ],
    [
      { version_policy: { all: {}, latest: {} } },
      'version_policy.latest',
      "'latest' and 'all' are both given; 'policy_choice' takes one of them",
    ],
    [{ parameters: [] }, 'parameters', 'expected an object (a map), got a list'],
    [
      { response_cache: { enable: 'yes' } },
      'response_cache.enable',
      'expected true or false, got string',
    ],
  ])('should refuse %j naming the field %s', (json, field, reason) => {
    let error: unknown;
    try {
      normalize(json);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigFieldError);
    expect(error).toMatchObject({ field, reason });
  });
});
