import { ServingError } from '../../errors/serving-error';
import { toFloat16Bits } from '../../tensor/float16';
import { packedOf } from '../../tensor/packed-array';
import type { ServedModel } from '../../core/catalog/served-model';
import {
  decodeStringBytes,
  decodeTensorProto,
  MAX_RANK,
  TensorProtoMessage,
  toColumnValue,
  toTensorProto,
} from './tensor-proto';
import { encodePredictRequest } from './tfserving.mapper';

const shape = (...dims: (number | string)[]) => ({ dim: dims.map((size) => ({ size })) });

/** Little-endian bytes of a typed array, as numpy's tobytes() gives them on x86. */
const bytesOf = (array: ArrayBufferView) =>
  Buffer.from(array.buffer, array.byteOffset, array.byteLength);

const decode = (proto: TensorProtoMessage) => decodeTensorProto(proto, 'inputs.x');

function refusal(proto: TensorProtoMessage): ServingError {
  try {
    decode(proto);
  } catch (error) {
    if (error instanceof ServingError) return error;
    throw error;
  }
  throw new Error('expected a refusal');
}

describe('decodeTensorProto', () => {
  it('should read every typed field by dtype, row-major, with its shape', () => {
    const cases: [TensorProtoMessage, number[]][] = [
      [{ dtype: 'DT_FLOAT', float_val: [1.5, -2, 3, 4] }, [1.5, -2, 3, 4]],
      [{ dtype: 'DT_DOUBLE', double_val: [0.1, 0.2, 0.3, 0.4] }, [0.1, 0.2, 0.3, 0.4]],
      [{ dtype: 'DT_INT32', int_val: [-7, 0, 7, 2147483647] }, [-7, 0, 7, 2147483647]],
      [{ dtype: 'DT_INT8', int_val: [-128, 0, 1, 127] }, [-128, 0, 1, 127]],
      [{ dtype: 'DT_UINT8', int_val: [0, 1, 254, 255] }, [0, 1, 254, 255]],
      [{ dtype: 'DT_INT16', int_val: [-32768, 0, 1, 32767] }, [-32768, 0, 1, 32767]],
      [{ dtype: 'DT_UINT16', int_val: [0, 1, 2, 65535] }, [0, 1, 2, 65535]],
      [
        { dtype: 'DT_INT64', int64_val: ['-9007199254740991', '0', '5', '42'] },
        [-9007199254740991, 0, 5, 42],
      ],
      [{ dtype: 'DT_UINT32', uint32_val: [0, 1, 2, 4294967295] }, [0, 1, 2, 4294967295]],
      [{ dtype: 'DT_UINT64', uint64_val: ['0', '1', '2', '3'] }, [0, 1, 2, 3]],
      [
        { dtype: 'DT_HALF', half_val: [1.5, -2, 0.25, 65504].map(toFloat16Bits) },
        [1.5, -2, 0.25, 65504],
      ],
      // bfloat16 is the high half of a float32: 1.5 is 0x3fc00000.
      [{ dtype: 'DT_BFLOAT16', half_val: [0x3fc0, 0xc000, 0, 0x3f80] }, [1.5, -2, 0, 1]],
    ];
    for (const [proto, values] of cases) {
      const decoded = decode({ ...proto, tensor_shape: shape(2, 2) });
      expect(decoded).toEqual({
        dtype: proto.dtype,
        shape: [2, 2],
        values: Float64Array.from(values),
      });
    }
  });

  it('should read bool_val as booleans and string_val as UTF-8 strings', () => {
    expect(
      decode({ dtype: 'DT_BOOL', tensor_shape: shape(3), bool_val: [true, false, true] }),
    ).toEqual({ dtype: 'DT_BOOL', shape: [3], values: [true, false, true] });
    expect(
      decode({
        dtype: 'DT_STRING',
        tensor_shape: shape(2),
        string_val: [Buffer.from('héllo'), Buffer.from('')],
      }),
    ).toEqual({ dtype: 'DT_STRING', shape: [2], values: ['héllo', ''] });
  });

  it('should read tensor_content as little-endian bytes of every numeric dtype', () => {
    const cases: [string, ArrayBufferView, number[]][] = [
      ['DT_FLOAT', Float32Array.of(1.5, -2, 3.25), [1.5, -2, 3.25]],
      ['DT_DOUBLE', Float64Array.of(0.1, 1e300, -5), [0.1, 1e300, -5]],
      ['DT_INT32', Int32Array.of(-1, 2147483647, 0), [-1, 2147483647, 0]],
      ['DT_INT8', Int8Array.of(-128, 127, 0), [-128, 127, 0]],
      ['DT_UINT8', Uint8Array.of(0, 255, 7), [0, 255, 7]],
      ['DT_INT16', Int16Array.of(-32768, 32767, 1), [-32768, 32767, 1]],
      ['DT_UINT16', Uint16Array.of(0, 65535, 1), [0, 65535, 1]],
      ['DT_INT64', BigInt64Array.of(-5n, 2n ** 40n, 0n), [-5, 2 ** 40, 0]],
      ['DT_UINT32', Uint32Array.of(0, 4294967295, 1), [0, 4294967295, 1]],
      ['DT_UINT64', BigUint64Array.of(0n, 2n ** 52n, 1n), [0, 2 ** 52, 1]],
      ['DT_HALF', Uint16Array.from([0.5, -1, 2048], toFloat16Bits), [0.5, -1, 2048]],
    ];
    for (const [dtype, array, values] of cases) {
      // An odd offset inside a larger buffer: the bytes need not be aligned for their type.
      const padded = Buffer.concat([Buffer.from([9]), bytesOf(array)]).subarray(1);
      const decoded = decode({ dtype, tensor_shape: shape(3), tensor_content: padded });
      expect(decoded).toEqual({ dtype, shape: [3], values: Float64Array.from(values) });
    }
    const bools = decode({
      dtype: 'DT_BOOL',
      tensor_shape: shape(3),
      tensor_content: Buffer.from([1, 0, 2]),
    });
    expect(bools.values).toEqual([true, false, true]);
  });

  it('should read a tensor without tensor_shape as a scalar', () => {
    expect(decode({ dtype: 'DT_FLOAT', float_val: [5] })).toEqual({
      dtype: 'DT_FLOAT',
      shape: [],
      values: Float64Array.of(5),
    });
  });

  it('should refuse a dimension of -1, naming it', () => {
    expect(
      refusal({ dtype: 'DT_FLOAT', tensor_shape: shape(-1, 4), float_val: [1, 2, 3, 4] }).message,
    ).toBe(
      "inputs.x: tensor_shape.dim[0].size is -1 (unknown); a request tensor's dimensions must be known sizes (-1 is for signatures)",
    );
  });

  it('should refuse an unknown rank, a negative or huge size and too many dimensions', () => {
    expect(refusal({ dtype: 'DT_FLOAT', tensor_shape: { unknown_rank: true } }).message).toMatch(
      /unknown_rank set; a request tensor needs its dimensions/,
    );
    expect(refusal({ dtype: 'DT_FLOAT', tensor_shape: shape(-3) }).message).toBe(
      'inputs.x: tensor_shape.dim[0].size is -3; expected a size >= 0',
    );
    expect(
      refusal({ dtype: 'DT_FLOAT', tensor_shape: shape('9223372036854775807') }).message,
    ).toMatch(/dim\[0\]\.size is 9223372036854775807; expected a size >= 0/);
    const deep = shape(...new Array<number>(MAX_RANK + 1).fill(1));
    expect(refusal({ dtype: 'DT_FLOAT', tensor_shape: deep, float_val: [1] }).message).toBe(
      `inputs.x: tensor_shape has ${MAX_RANK + 1} dimensions; at most ${MAX_RANK}`,
    );
  });

  it('should refuse a value count that does not fill the shape, before allocating it', () => {
    expect(
      refusal({ dtype: 'DT_FLOAT', tensor_shape: shape(2, 2), float_val: [1, 2, 3] }).message,
    ).toBe('inputs.x: shape [2,2] holds 4 elements, but float_val has 3');
    // A claimed shape of 10^15 elements with nothing in it: refused without building anything.
    expect(refusal({ dtype: 'DT_FLOAT', tensor_shape: shape(1e5, 1e5, 1e5) }).message).toBe(
      'inputs.x: shape [100000,100000,100000] holds 1000000000000000 elements, but float_val has 0',
    );
    expect(
      refusal({ dtype: 'DT_FLOAT', tensor_shape: shape(2, 2), tensor_content: Buffer.alloc(12) })
        .message,
    ).toBe(
      'inputs.x: tensor_content holds 12 bytes, but shape [2,2] of DT_FLOAT needs 16 (4 elements of 4 bytes, little-endian)',
    );
  });

  it('should refuse values in a field of another dtype, or in two fields', () => {
    expect(refusal({ dtype: 'DT_FLOAT', tensor_shape: shape(1), int_val: [1] }).message).toBe(
      'inputs.x: DT_FLOAT values go in float_val or tensor_content, but int_val is set',
    );
    expect(
      refusal({
        dtype: 'DT_FLOAT',
        tensor_shape: shape(1),
        float_val: [1],
        tensor_content: bytesOf(Float32Array.of(1)),
      }).message,
    ).toBe('inputs.x: values in both tensor_content and float_val; set only one of them');
    expect(
      refusal({ dtype: 'DT_STRING', tensor_shape: shape(1), tensor_content: Buffer.from('abcd') })
        .message,
    ).toBe('inputs.x: DT_STRING values go in string_val; tensor_content is not read for DT_STRING');
    expect(refusal({ dtype: 'DT_STRING', tensor_shape: shape(1), float_val: [1] }).message).toBe(
      'inputs.x: DT_STRING values go in string_val, but float_val is set',
    );
  });

  it('should refuse a dtype it cannot read, and an unset one, listing those it can', () => {
    expect(refusal({ dtype: 'DT_COMPLEX64', scomplex_val: [1, 2] }).message).toMatch(
      /^inputs\.x: dtype DT_COMPLEX64 is not accepted; send one of DT_FLOAT, DT_DOUBLE, .*DT_STRING$/,
    );
    expect(refusal({ float_val: [1] }).message).toMatch(
      /^inputs\.x: dtype DT_INVALID is not accepted/,
    );
  });

  it('should refuse a 32-bit field value outside its dtype', () => {
    expect(refusal({ dtype: 'DT_UINT8', tensor_shape: shape(2), int_val: [1, 300] }).message).toBe(
      'inputs.x: int_val[1] is 300, not a valid DT_UINT8 (expected an integer in [0, 255])',
    );
    expect(refusal({ dtype: 'DT_HALF', tensor_shape: shape(1), half_val: [-1] }).message).toBe(
      'inputs.x: half_val[0] is -1, not a valid DT_HALF (expected an integer in [0, 65535])',
    );
  });

  it('should answer INVALID_ARGUMENT for every refusal', () => {
    expect(refusal({ dtype: 'DT_FLOAT', tensor_shape: shape(-1) }).code).toBe('INVALID_ARGUMENT');
  });
});

describe('toColumnValue', () => {
  const model = {
    name: 'm',
    signature: { inputs: [{ name: 'x', dtype: 'float32', shape: [-1, 2] }], outputs: [] },
  } as unknown as ServedModel;
  /** What TF Serving REST's :predict makes of {"inputs": {"x": value}}. */
  const encodeColumns = (value: unknown) =>
    encodePredictRequest(model, { inputs: { x: value } }).tensors;

  it('should pack numbers so the codec copies them without building arrays', () => {
    const value = toColumnValue(
      decode({ dtype: 'DT_FLOAT', tensor_shape: shape(2, 2), float_val: [1, 2, 3, 4] }),
    );
    expect(packedOf(value)).toEqual({ shape: [2, 2], data: Float64Array.of(1, 2, 3, 4) });
    const [tensor] = encodeColumns(value);
    expect(tensor).toEqual({
      name: 'x',
      dtype: 'float32',
      shape: [2, 2],
      data: Float32Array.of(1, 2, 3, 4),
    });
  });

  it('should give the codec what REST would, so it words the same 400 as REST', () => {
    const wrongWidth = toColumnValue(
      decode({ dtype: 'DT_FLOAT', tensor_shape: shape(1, 3), float_val: [1, 2, 3] }),
    );
    expect(() => encodeColumns(wrongWidth)).toThrow(
      "inputs.x[0]: expected 2 elements, got 3; input 'x' expects shape [-1,2] (float32)",
    );
    expect(() => encodeColumns([[1, 2, 3]])).toThrow(
      "inputs.x[0]: expected 2 elements, got 3; input 'x' expects shape [-1,2] (float32)",
    );
    const strings = toColumnValue(
      decode({
        dtype: 'DT_STRING',
        tensor_shape: shape(1, 2),
        string_val: [Buffer.from('a'), Buffer.from('b')],
      }),
    );
    expect(() => encodeColumns(strings)).toThrow(
      'inputs.x[0][0]: expected a number (float32), got the string "a"',
    );
    const nan = toColumnValue(
      decode({ dtype: 'DT_FLOAT', tensor_shape: shape(1, 2), float_val: [1, NaN] }),
    );
    expect(() => encodeColumns(nan)).toThrow('inputs.x[0][1]: expected a finite number, got NaN');
  });

  it('should give a scalar bare and an empty tensor as empty arrays', () => {
    expect(toColumnValue(decode({ dtype: 'DT_FLOAT', float_val: [5] }))).toBe(5);
    expect(toColumnValue(decode({ dtype: 'DT_FLOAT', tensor_shape: shape(0, 2) }))).toEqual([]);
    expect(
      toColumnValue(
        decode({ dtype: 'DT_BOOL', tensor_shape: shape(2, 1), bool_val: [true, false] }),
      ),
    ).toEqual([[true], [false]]);
  });
});

describe('toTensorProto', () => {
  it('should write each dtype in its typed field with its shape', () => {
    const tensor = (dtype: never, data: ArrayBufferView) =>
      ({ name: 'y', dtype, shape: [1, 2], data }) as never;
    const tensorShape = { dim: [{ size: '1' }, { size: '2' }] };
    expect(toTensorProto(tensor('float32' as never, Float32Array.of(0.5, 2)))).toEqual({
      dtype: 'DT_FLOAT',
      tensor_shape: tensorShape,
      float_val: [0.5, 2],
    });
    expect(toTensorProto(tensor('float64' as never, Float64Array.of(0.1, 2)))).toMatchObject({
      dtype: 'DT_DOUBLE',
      double_val: [0.1, 2],
    });
    expect(toTensorProto(tensor('int32' as never, Int32Array.of(-1, 2)))).toMatchObject({
      dtype: 'DT_INT32',
      int_val: [-1, 2],
    });
    expect(toTensorProto(tensor('int8' as never, Int8Array.of(-1, 2)))).toMatchObject({
      dtype: 'DT_INT8',
      int_val: [-1, 2],
    });
    expect(toTensorProto(tensor('uint8' as never, Uint8Array.of(255, 2)))).toMatchObject({
      dtype: 'DT_UINT8',
      int_val: [255, 2],
    });
    expect(toTensorProto(tensor('int64' as never, BigInt64Array.of(2n ** 62n, -1n)))).toMatchObject(
      {
        dtype: 'DT_INT64',
        int64_val: ['4611686018427387904', '-1'],
      },
    );
    expect(toTensorProto(tensor('bool' as never, Uint8Array.of(1, 0)))).toMatchObject({
      dtype: 'DT_BOOL',
      bool_val: [true, false],
    });
    expect(
      toTensorProto(tensor('float16' as never, Uint16Array.of(toFloat16Bits(1.5), 0))),
    ).toMatchObject({
      dtype: 'DT_HALF',
      half_val: [toFloat16Bits(1.5), 0],
    });
  });

  it('should round-trip through decodeTensorProto', () => {
    const proto = toTensorProto({
      name: 'y',
      dtype: 'float32',
      shape: [3],
      data: Float32Array.of(1, 2.5, -3),
    });
    expect(decode(proto).values).toEqual(Float64Array.of(1, 2.5, -3));
  });
});

describe('decodeStringBytes', () => {
  it('should give the raw bytes of each element of a [n] DT_STRING tensor', () => {
    const png = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0xff]);
    const proto = {
      dtype: 'DT_STRING',
      tensor_shape: shape(2),
      string_val: [png, Buffer.from('x')],
    };
    expect(decodeStringBytes(proto, 'inputs.image')).toEqual([png, Buffer.from('x')]);
  });

  it('should refuse any other shape, naming the one expected', () => {
    const proto = { dtype: 'DT_STRING', tensor_shape: shape(1, 1), string_val: [Buffer.from('x')] };
    expect(() => decodeStringBytes(proto, 'inputs.image')).toThrow(
      'inputs.image: encoded images travel as a DT_STRING tensor of shape [n], one file per element; got shape [1,1] with 1 string_val',
    );
  });
});
