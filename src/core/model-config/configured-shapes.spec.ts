import { ServingError } from '../../errors/serving-error';
import type { EncodedTensor, Tensor } from '../../tensor/tensor';
import type { ConfiguredShapes } from './effective-config';
import { toClientOutputs, toModelInputs } from './configured-shapes';

const FILE = '/models/m/config.pbtxt';
const floats = (name: string, shape: number[]): EncodedTensor => ({
  name,
  dtype: 'float32',
  shape,
  data: new Float32Array(shape.reduce((a, b) => a * b, 1)),
});
const shapes = (rules: Partial<ConfiguredShapes>): ConfiguredShapes => ({
  inputs: new Map(),
  outputs: new Map(),
  fullShapes: false,
  file: FILE,
  ...rules,
});
const spec = (name: string, shape: number[]) => ({ name, dtype: 'float32', shape });

describe('configured shapes', () => {
  const model = {
    name: 'm',
    signature: { inputs: [spec('x', [-1, -1])], outputs: [spec('y', [-1, 6])] },
    shapes: shapes({
      inputs: new Map([['x', { client: [-1, -1], model: [-1, 2, -1] }]]),
      outputs: new Map([['y', { client: [-1, 6], model: [-1, 3, 2] }]]),
    }),
  };

  it('should give inputs the shape the model takes, sizing its free dimension, on the same data', () => {
    const input = floats('x', [3, 8]);
    const [reshaped] = toModelInputs(model, [input]);
    expect(reshaped.shape).toEqual([3, 2, 4]);
    expect(reshaped.data).toBe(input.data);
  });

  it('should refuse an input whose elements do not fit the reshape', () => {
    expect(() => toModelInputs(model, [floats('x', [3, 5])])).toThrow(
      new ServingError(
        'INVALID_ARGUMENT',
        `input 'x' of model 'm' is [3,5], which cannot be reshaped to [-1,2,-1] (reshape in ${FILE}): the element counts differ`,
      ),
    );
  });

  it("should give outputs the config's dims, and fail a request whose output is not what the config says", () => {
    const out = (shape: number[]): Tensor => floats('y', shape);
    expect(toClientOutputs(model, { y: out([3, 3, 2]) }).y.shape).toEqual([3, 6]);
    expect(() => toClientOutputs(model, { y: out([3, 2, 3]) })).toThrow(
      `model 'm' gave output 'y' of shape [3,2,3], where ${FILE} says [-1,3,2]`,
    );
    const narrowed = { ...model, shapes: shapes({}) };
    expect(() => toClientOutputs(narrowed, { y: out([3, 5]) })).toThrow(
      `model 'm' gave output 'y' of shape [3,5], where ${FILE} says [-1,6]`,
    );
  });

  it('should leave a model without a configuration as it is', () => {
    const input = floats('x', [3, 5]);
    const plain = { ...model, shapes: undefined };
    expect(toModelInputs(plain, [input])).toEqual([input]);
  });
});
