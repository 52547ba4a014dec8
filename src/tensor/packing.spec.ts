import { ServingError } from '../errors/serving-error';
import { encodeTensor } from './packing';
import { TensorSpec } from './signature';
import { stringElements } from './strings';

const features: TensorSpec = { name: 'features', dtype: 'float32', shape: [-1, 4] };
const rows = (idx: readonly number[]) => `instances${idx.map((i) => `[${i}]`).join('')}`;

describe('tensor codec', () => {
  describe(encodeTensor.name, () => {
    it('should pack a batch row-major into a Float32Array with the batch dimension resolved', () => {
      const encoded = encodeTensor(
        features,
        [
          [1, 2, 3, 4],
          [5, 6, 7, 8],
        ],
        rows,
      );
      expect(encoded.shape).toEqual([2, 4]);
      expect(encoded.dtype).toBe('float32');
      expect(encoded.data).toEqual(new Float32Array([1, 2, 3, 4, 5, 6, 7, 8]));
    });

    it('should resolve free inner dimensions from the data and require every row to share them', () => {
      const spec: TensorSpec = { name: 'seq', dtype: 'float32', shape: [-1, -1, 2] };
      expect(
        encodeTensor(
          spec,
          [
            [
              [1, 2],
              [3, 4],
              [5, 6],
            ],
          ],
          rows,
        ).shape,
      ).toEqual([1, 3, 2]);
      expect(() =>
        encodeTensor(
          spec,
          [
            [[1, 2]],
            [
              [1, 2],
              [3, 4],
            ],
          ],
          rows,
        ),
      ).toThrow(
        /instances\[1\]: expected an array of 1, got an array of 2; all entries must share the shape \[2,1,2\]/,
      );
    });

    it('should pack int32 and bool inputs into the matching typed arrays', () => {
      const ints = encodeTensor({ name: 'ids', dtype: 'int32', shape: [-1, 2] }, [[1, -2]], rows);
      expect(ints.data).toBeInstanceOf(Int32Array);
      const flags = encodeTensor(
        { name: 'mask', dtype: 'bool', shape: [-1] },
        [true, false, 1],
        rows,
      );
      expect(Array.from(flags.data as Uint8Array)).toEqual([1, 0, 1]);
    });

    it.each([
      [
        [[1, 2, 3]],
        /instances\[0\]: expected 4 elements, got 3; input 'features' expects shape \[-1,4\] \(float32\)/,
      ],
      [[], /instances: is an empty array/],
      [[[1, 2, 3, 'x']], /instances\[0\]\[3\]: expected a number \(float32\), got the string "x"/],
      [[[1, 2, 3, Infinity]], /instances\[0\]\[3\]: expected a finite number, got Infinity/],
      [[[1, 2, 3, 1e39]], /outside the float32 range/],
      [[[1, 2, 3, [4]]], /instances\[0\]\[3\]: expected a number \(float32\), got an array of 1/],
      [[1], /instances\[0\]: expected an array, got 1/],
      ['text', /instances: expected an array, got the string "text"/],
    ])('should reject %j with a message naming the place and the expectation', (value, message) => {
      expect(() => encodeTensor(features, value, rows)).toThrow(ServingError);
      expect(() => encodeTensor(features, value, rows)).toThrow(message);
    });

    it('should reject fractions and out-of-range values for int32', () => {
      const ids: TensorSpec = { name: 'ids', dtype: 'int32', shape: [-1] };
      expect(() => encodeTensor(ids, [1.5], rows)).toThrow(
        /instances\[0\]: expected an integer in int32 range/,
      );
      expect(() => encodeTensor(ids, [2 ** 31], rows)).toThrow(/int32 range/);
      expect(encodeTensor(ids, [-(2 ** 31), 2 ** 31 - 1], rows).data).toEqual(
        new Int32Array([-(2 ** 31), 2 ** 31 - 1]),
      );
    });

    it('should enforce a fixed batch dimension only when asked to', () => {
      const fixed: TensorSpec = { name: 'x', dtype: 'float32', shape: [1, 2] };
      expect(
        encodeTensor(
          fixed,
          [
            [1, 2],
            [3, 4],
          ],
          rows,
        ).shape,
      ).toEqual([2, 2]);
      expect(() =>
        encodeTensor(
          fixed,
          [
            [1, 2],
            [3, 4],
          ],
          rows,
          false,
        ),
      ).toThrow(/expected 1 elements, got 2/);
    });

    it('should refuse inputs whose dtype cannot come from JSON', () => {
      expect(() => encodeTensor({ name: 'c', dtype: 'complex64', shape: [-1] }, [1], rows)).toThrow(
        /input 'c' has dtype complex64/,
      );
    });

    it('should pack strings (UTF-8) and {"b64"} values (bytes) into a string tensor', () => {
      const tensor = encodeTensor(
        { name: 's', dtype: 'string', shape: [-1, 2] },
        [['é', { b64: '/wA=' }]],
        rows,
      );
      expect(tensor.shape).toEqual([1, 2]);
      expect(stringElements(tensor).map((b) => Buffer.from(b).toString('hex'))).toEqual([
        'c3a9',
        'ff00',
      ]);
    });
  });
});
