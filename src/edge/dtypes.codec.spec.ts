import { fromFloat16Bits, toFloat16Bits } from '../tensor/float16';
import { encodeColumns } from '../core/request-formats';
import { encodeV2Tensor } from './v2/v2-codec';
import { toV2Datatype } from './v2/v2-datatypes';
import { TF_DATA_TYPES } from '../tensor/dtypes';
import { encodeTensor } from '../tensor/packing';
import { TensorSpec } from '../tensor/signature';
import { toNumbers } from '../tensor/tensor';

const rows = (idx: readonly number[]) => `instances${idx.map((i) => `[${i}]`).join('')}`;
const spec = (dtype: string, shape = [-1, 2]): TensorSpec => ({ name: 'x', dtype, shape });

describe('tensor codec datatypes', () => {
  it.each([
    ['float64', [[0.1, -2.5]], new Float64Array([0.1, -2.5])],
    ['int8', [[-128, 127]], new Int8Array([-128, 127])],
    ['uint8', [[0, 255]], new Uint8Array([0, 255])],
    ['int32', [[-7, 7]], new Int32Array([-7, 7])],
    [
      'int64',
      [[-(2 ** 53 - 1), 2 ** 53 - 1]],
      new BigInt64Array([-(2n ** 53n - 1n), 2n ** 53n - 1n]),
    ],
    ['bool', [[true, false]], new Uint8Array([1, 0])],
  ])('should pack %s JSON values exactly into the matching typed array', (dtype, value, data) => {
    const encoded = encodeTensor(spec(dtype), value, rows);
    expect(encoded.dtype).toBe(dtype);
    expect(encoded.data).toEqual(data);
  });

  it('should refuse an int64 value a JSON number cannot hold exactly, never rounding it', () => {
    // 2^53 + 1 reaches the codec as 2^53: JSON.parse has already rounded it.
    const parsed = JSON.parse('[[1, 9007199254740993]]') as unknown;
    expect(() => encodeTensor(spec('int64'), parsed, rows)).toThrow(
      /instances\[0\]\[1\]: 9007199254740992 is outside the range a JSON number holds exactly for int64 \(±9007199254740991, 2\^53 - 1\)/,
    );
    expect(() => encodeTensor(spec('int64'), [[1, 0.5]], rows)).toThrow(
      /expected an integer in int64 range .* got 0.5/,
    );
  });

  it.each([
    ['int8', 128, /expected an integer in int8 range \[-128, 127\], got 128/],
    ['uint8', -1, /expected an integer in uint8 range \[0, 255\], got -1/],
    ['uint8', 1.5, /expected an integer in uint8 range \[0, 255\], got 1.5/],
    ['float16', 70000, /70000 is outside the float16 range \(±65504\)/],
    ['float64', 'a', /expected a number \(float64\), got the string "a"/],
  ])('should refuse a %s value out of its range: %p', (dtype, bad, message) => {
    expect(() => encodeTensor(spec(dtype), [[0, bad]], rows)).toThrow(message);
  });

  it('should convert float16 JSON values to the nearest half and answer them back as numbers', () => {
    const encoded = encodeTensor(spec('float16'), [[1.5, 0.1]], rows);
    expect(encoded.data).toEqual(new Uint16Array([0x3e00, 0x2e66]));
    expect(toNumbers({ ...encoded, dtype: 'float16' })).toEqual([1.5, fromFloat16Bits(0x2e66)]);
    expect(fromFloat16Bits(0x2e66)).toBeCloseTo(0.1, 3);
  });

  it('should accept a scalar input (shape []) through V2 and the columnar format', () => {
    const sr = spec('int64', []);
    expect(
      encodeV2Tensor(sr, { name: 'x', shape: [], datatype: 'INT64', data: [16000] }, 'inputs[1]'),
    ).toEqual({
      name: 'x',
      dtype: 'int64',
      shape: [],
      data: new BigInt64Array([16000n]),
    });
    expect(encodeColumns([sr], 16000)[0].data).toEqual(new BigInt64Array([16000n]));
    expect(() =>
      encodeV2Tensor(sr, { name: 'x', shape: [1], datatype: 'INT64', data: [16000] }, 'inputs[1]'),
    ).toThrow(/shape \[1\] does not fit input 'x', which expects \[\]/);
  });

  it('should feed int64, uint8 and float64 inputs from V2 with the declared range checked too', () => {
    const feed = (dtype: string, datatype: string, data: unknown[]) =>
      encodeV2Tensor(spec(dtype), { name: 'x', shape: [1, 2], datatype, data }, 'inputs[0]');
    expect(feed('int64', 'INT64', [-3, 4]).data).toEqual(new BigInt64Array([-3n, 4n]));
    expect(feed('uint8', 'UINT8', [0, 255]).data).toEqual(new Uint8Array([0, 255]));
    expect(feed('float64', 'FP64', [1e300, -1]).data).toEqual(new Float64Array([1e300, -1]));
    expect(() => feed('int64', 'INT64', [1, 2 ** 60])).toThrow(
      /outside the range a JSON number holds exactly/,
    );
    expect(() => feed('int8', 'INT32', [1, 300])).toThrow(/expected an integer in int8 range/);
  });

  it('should name every dtype in V2 and TF Serving terms', () => {
    const names = ['float16', 'float32', 'float64', 'int8', 'int32', 'int64', 'uint8', 'bool'];
    expect(names.map(toV2Datatype)).toEqual([
      'FP16',
      'FP32',
      'FP64',
      'INT8',
      'INT32',
      'INT64',
      'UINT8',
      'BOOL',
    ]);
    expect(names.map((n) => TF_DATA_TYPES[n])).toEqual([
      'DT_HALF',
      'DT_FLOAT',
      'DT_DOUBLE',
      'DT_INT8',
      'DT_INT32',
      'DT_INT64',
      'DT_UINT8',
      'DT_BOOL',
    ]);
  });
});

describe('float16', () => {
  it.each([
    [0, 0x0000],
    [-0, 0x8000],
    [1, 0x3c00],
    [-2, 0xc000],
    [65504, 0x7bff],
    [2 ** -24, 0x0001], // smallest subnormal
    [2 ** -14, 0x0400], // smallest normal
    [Infinity, 0x7c00],
    [1e6, 0x7c00], // overflow
  ])('should encode %p as 0x%s and decode it back', (value, bits) => {
    expect(toFloat16Bits(value)).toBe(bits);
    expect(Object.is(fromFloat16Bits(bits), value) || value === 1e6).toBe(true);
  });

  it.each([
    [0x3c00, 1],
    [0xc000, -2],
    [0x3555, 0.333251953125],
    [0x7bff, 65504],
    [0x0001, 2 ** -24],
    [0x7c00, Infinity],
    [0xfc00, -Infinity],
  ])('should read half 0x%s as %s', (half, value) => {
    expect(fromFloat16Bits(half)).toBe(value);
  });

  it('should read a NaN half as NaN', () => {
    expect(fromFloat16Bits(0x7e00)).toBeNaN();
  });

  it('should round half to even', () => {
    // 1 + 2^-11 lies halfway between 1 and the next half (1 + 2^-10): even mantissa wins.
    expect(toFloat16Bits(1 + 2 ** -11)).toBe(0x3c00);
    expect(toFloat16Bits(1 + 3 * 2 ** -11)).toBe(0x3c02);
  });
});
