import { TensorSpec } from '../../tensor/signature';
import { encodeColumns } from '../../core/request-formats';
import { encodeV2Tensor, encodeV2Values, V2TensorInput } from './v2-codec';
import { toV2Datatype } from './v2-datatypes';

const features: TensorSpec = { name: 'features', dtype: 'float32', shape: [-1, 4] };
const ids: TensorSpec = { name: 'ids', dtype: 'int32', shape: [-1, 2] };
const flags: TensorSpec = { name: 'flags', dtype: 'bool', shape: [-1] };
const input = (over: Partial<V2TensorInput>): V2TensorInput => ({
  name: 'features',
  shape: [1, 4],
  datatype: 'FP32',
  data: [1, 2, 3, 4],
  ...over,
});
const encode = (spec: TensorSpec, over: Partial<V2TensorInput>) =>
  encodeV2Tensor(spec, input(over), 'inputs[0]');

describe('encodeV2Tensor', () => {
  it('should pack flat and nested row-major data alike, batch dimension free', () => {
    const flat = encode(features, { shape: [2, 4], data: [1, 2, 3, 4, 5, 6, 7, 8] });
    const nested = encode(features, {
      shape: [2, 4],
      data: [
        [1, 2, 3, 4],
        [5, 6, 7, 8],
      ],
    });
    expect(flat).toEqual({
      name: 'features',
      dtype: 'float32',
      shape: [2, 4],
      data: new Float32Array([1, 2, 3, 4, 5, 6, 7, 8]),
    });
    expect(nested).toEqual(flat);
  });

  it('should map integer datatypes onto int32 and booleans onto bool', () => {
    expect(encode(ids, { shape: [1, 2], datatype: 'INT64', data: [-5, 2147483647] }).data).toEqual(
      new Int32Array([-5, 2147483647]),
    );
    expect(encode(ids, { shape: [1, 2], datatype: 'FP64', data: [1, 2] }).dtype).toBe('int32');
    expect(encode(flags, { shape: [3], datatype: 'BOOL', data: [true, false, true] }).data).toEqual(
      new Uint8Array([1, 0, 1]),
    );
  });

  it.each([
    [
      ids,
      { shape: [1, 2], datatype: 'INT64', data: [1, 2 ** 31] },
      /data\[1\] \(flat index\): expected an integer in int32 range/,
    ],
    [
      ids,
      { shape: [1, 2], datatype: 'FP32', data: [1, 0.5] },
      /expected an integer in int32 range .* got 0.5/,
    ],
    [features, { datatype: 'UINT8', data: [1, 2, 256, 4] }, /256 is not a valid UINT8/],
    [
      features,
      { datatype: 'INT16', data: [1, 2, -1.5, 4] },
      /-1.5 is not a valid INT16 \(expected an integer/,
    ],
    [features, { datatype: 'FP16', data: [1, 2, 70000, 4] }, /70000 is not a valid FP16/],
    [features, { datatype: 'FP64', data: [1, 2, 1e39, 4] }, /1e\+39 is outside the float32 range/],
    [
      features,
      { datatype: 'FP32', data: [1, null, 3, 4] },
      /data\[1\] \(flat index\): expected a number \(float32\), got null/,
    ],
    [
      flags,
      { shape: [1], datatype: 'BOOL', data: ['yes'] },
      /expected a boolean, got the string "yes"/,
    ],
    [
      flags,
      { shape: [1], datatype: 'UINT8', data: [1] },
      /datatype UINT8 cannot feed input 'flags', which is BOOL \[-1\]; send BOOL/,
    ],
    [
      features,
      { datatype: 'BOOL', data: [true, true, true, true] },
      /datatype BOOL cannot feed input 'features'/,
    ],
    [features, { datatype: 'STRING' }, /unknown datatype 'STRING'/],
    [features, { shape: [1, 4], data: [1, 2, 3] }, /shape \[1,4\] holds 4 elements but data has 3/],
    [
      features,
      { shape: [4], data: [1, 2, 3, 4] },
      /shape \[4\] does not fit input 'features', which expects \[-1,4\]/,
    ],
    [features, { shape: [0, 4], data: [] }, /shape \[0,4\] holds no element/],
    [
      features,
      {
        shape: [1, 4],
        data: [
          [1, 2],
          [3, 4],
        ],
      },
      /data should be an array of 1 to match shape \[1,4\], got an array of 2/,
    ],
    [
      features,
      { shape: [1, 4], data: [[1, 2, 3, [4]]] },
      /data\[0\]\[3\] is nested deeper than shape \[1,4\]/,
    ],
  ])('should reject %#: %p', (spec, over, message) => {
    expect(() => encode(spec, over as Partial<V2TensorInput>)).toThrow(message);
  });
});

describe('encodeColumns', () => {
  it('should take a bare tensor for a single input, or an object keyed by input name', () => {
    const bare = encodeColumns([features], [[1, 2, 3, 4]]);
    expect(encodeColumns([features], { features: [[1, 2, 3, 4]] })).toEqual(bare);
    expect(() => encodeColumns([features], { x: [[1, 2, 3, 4]] })).toThrow(
      /inputs: missing input\(s\) features and unknown input\(s\) x/,
    );
  });

  it('should let named inputs differ in their 0-th dimension', () => {
    const [a, b] = encodeColumns([ids, flags], {
      ids: [
        [1, 2],
        [3, 4],
      ],
      flags: [true, false, true],
    });
    expect([a.shape, b.shape]).toEqual([[2, 2], [3]]);
  });
});

describe('toV2Datatype', () => {
  it('should name the TF.js dtypes as V2 does', () => {
    expect(['float32', 'int32', 'bool', 'string'].map(toV2Datatype)).toEqual([
      'FP32',
      'INT32',
      'BOOL',
      'BYTES',
    ]);
  });
});

describe(encodeV2Values.name, () => {
  const input = (datatype: string, shape: number[]) => ({ datatype, shape });
  const floats = { name: 'x', dtype: 'float32', shape: [-1, 2] };
  const ints = { name: 'ids', dtype: 'int32', shape: [-1, 2] };

  it('should pack values of another datatype into the input dtype', () => {
    const out = encodeV2Values(floats, input('UINT8', [1, 2]), new Uint8Array([3, 250]), 'in');
    expect(out.data).toEqual(new Float32Array([3, 250]));
    expect(out.shape).toEqual([1, 2]);
    const wide = encodeV2Values(ints, input('INT64', [1, 2]), new BigInt64Array([-1n, 9n]), 'in');
    expect(wide.data).toEqual(new Int32Array([-1, 9]));
  });

  it('should refuse what the input cannot hold, as JSON values are refused', () => {
    expect(() =>
      encodeV2Values(floats, input('FP32', [1, 2]), new Float32Array([1, Infinity]), 'in'),
    ).toThrow('in: element 1 (flat index): expected a finite number, got Infinity');
    expect(() =>
      encodeV2Values(ints, input('FP64', [1, 2]), new Float64Array([1, 2.5]), 'in'),
    ).toThrow(/in: element 1 \(flat index\): expected an integer in int32 range/);
    expect(() =>
      encodeV2Values(ints, input('UINT32', [1, 2]), new Uint32Array([1, 4294967295]), 'in'),
    ).toThrow(/got 4294967295/);
  });

  it('should check datatype, shape and element count before any value', () => {
    expect(() => encodeV2Values(floats, input('BOOL', [1, 2]), new Uint8Array(2), 'in')).toThrow(
      /datatype BOOL cannot feed input 'x'/,
    );
    expect(() => encodeV2Values(floats, input('FP32', [1, 3]), new Float32Array(3), 'in')).toThrow(
      /shape \[1,3\] does not fit input 'x'/,
    );
    expect(() => encodeV2Values(floats, input('FP32', [2, 2]), new Float32Array(2), 'in')).toThrow(
      'in: shape [2,2] holds 4 elements but the data has 2',
    );
  });
});
