import type { ServedModel } from '../../core/catalog/served-model';
import { FeatureMessage, selectOutputs, toExamplesBody } from './tfserving.grpc';

const model = {
  name: 'sensors',
  signature: {
    inputs: [],
    outputs: [
      { name: 'signal_sum', dtype: 'float32', shape: [-1, 1] },
      { name: 'sensor_sum', dtype: 'float32', shape: [-1, 1] },
    ],
  },
} as unknown as ServedModel;

describe('selectOutputs', () => {
  it("should answer every output when output_filter is empty, else those named, in the filter's order", () => {
    expect(selectOutputs(model, [])).toEqual(['signal_sum', 'sensor_sum']);
    expect(selectOutputs(model, ['sensor_sum', 'signal_sum'])).toEqual([
      'sensor_sum',
      'signal_sum',
    ]);
  });

  it('should refuse an unknown output and one named twice, saying which entry', () => {
    expect(() => selectOutputs(model, ['signal_sum', 'total'])).toThrow(
      "output_filter[1]: unknown output 'total'; the model's outputs are signal_sum, sensor_sum",
    );
    expect(() => selectOutputs(model, ['sensor_sum', 'sensor_sum'])).toThrow(
      "output_filter[1]: output 'sensor_sum' is named twice",
    );
  });
});

describe('toExamplesBody', () => {
  const example = (feature: Record<string, FeatureMessage>) => ({ features: { feature } });

  it("should give REST's examples: floats as they are, int64 as numbers, bytes as strings", () => {
    const body = toExamplesBody(
      {
        example_list: {
          examples: [
            example({
              a: { float_list: { value: [1.5, 2] } },
              b: { int64_list: { value: ['7', '-3'] } },
              c: { bytes_list: { value: [Buffer.from('yes')] } },
              d: {},
            }),
          ],
        },
      },
      'serving_default',
    );
    expect(body).toEqual({
      signature_name: 'serving_default',
      examples: [{ a: [1.5, 2], b: [7, -3], c: ['yes'], d: [] }],
    });
  });

  it('should give the shared features of a list with context as REST\'s "context"', () => {
    const body = toExamplesBody({
      example_list_with_context: {
        examples: [example({ a: { float_list: { value: [1] } } })],
        context: example({ b: { float_list: { value: [2] } } }),
      },
    });
    expect(body).toEqual({
      signature_name: undefined,
      examples: [{ a: [1] }],
      context: { b: [2] },
    });
  });

  it('should leave "examples" out when the input holds no list, for REST\'s 400 to name it', () => {
    expect(toExamplesBody(undefined).examples).toBeUndefined();
    expect(toExamplesBody({}).examples).toBeUndefined();
  });
});
