import { encodeInstances } from './request-formats';
import { TensorSpec } from '../tensor/signature';

const features: TensorSpec = { name: 'features', dtype: 'float32', shape: [-1, 4] };

describe('request formats', () => {
  describe(encodeInstances.name, () => {
    const inputs: TensorSpec[] = [
      { name: 'a', dtype: 'float32', shape: [-1, 2] },
      { name: 'b', dtype: 'int32', shape: [-1] },
    ];

    it('should split named instances into one tensor per input, in signature order', () => {
      const encoded = encodeInstances(inputs, [
        { a: [1, 2], b: 3 },
        { b: 4, a: [5, 6] },
      ]);
      expect(
        encoded.map((e) => [e.name, e.shape, Array.from(e.data as ArrayLike<number>)]),
      ).toEqual([
        ['a', [2, 2], [1, 2, 5, 6]],
        ['b', [2], [3, 4]],
      ]);
    });

    it('should accept a single-input instance keyed by its input name', () => {
      const [encoded] = encodeInstances([features], [{ features: [1, 2, 3, 4] }]);
      expect(encoded.shape).toEqual([1, 4]);
    });

    it('should name the path inside a named instance', () => {
      expect(() =>
        encodeInstances(inputs, [
          { a: [1, 2], b: 1 },
          { a: [1, 'x'], b: 1 },
        ]),
      ).toThrow(/instances\[1\]\.a\[1\]: expected a number/);
    });

    it('should reject missing and unknown input names, listing the expected ones', () => {
      expect(() => encodeInstances(inputs, [{ a: [1, 2] }])).toThrow(
        /instances\[0\]: missing input\(s\) b; the model's inputs are a, b/,
      );
      expect(() => encodeInstances(inputs, [{ a: [1, 2], b: 1, c: 2 }])).toThrow(
        /unknown input\(s\) c/,
      );
      expect(() => encodeInstances(inputs, [[1, 2]])).toThrow(
        /instances\[0\]: expected an object keyed by input name \(a, b\)/,
      );
    });
  });
});
