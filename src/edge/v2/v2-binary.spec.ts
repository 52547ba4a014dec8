import { ServingError } from '../../errors/serving-error';
import { fromFloat16Bits } from '../../tensor/float16';
import {
  decodeBytesElements,
  decodeNumeric,
  rawFormShape,
  tensorBytes,
  V2_BINARY_FRAMING,
} from './v2-binary';

const spec = (dtype: string, shape: number[]) => ({ name: 'x', dtype, shape });

describe('V2 binary tensor data (byte level)', () => {
  describe(decodeNumeric.name, () => {
    it('should read little-endian values whatever the byte offset of the slice', () => {
      const body = Buffer.alloc(1 + 8);
      body.writeInt32LE(-5, 1);
      body.writeInt32LE(70000, 5);
      const values = decodeNumeric(body.subarray(1), 'INT32', [2], 'x');
      expect(Array.from(values as Int32Array)).toEqual([-5, 70000]);
    });

    it('should keep FP16 as raw halves and INT64 as bigints', () => {
      const half = Buffer.from([0x00, 0x3c, 0x00, 0xc0]);
      const halves = decodeNumeric(half, 'FP16', [2], 'x') as Uint16Array;
      expect(Array.from(halves, fromFloat16Bits)).toEqual([1, -2]);
      const wide = Buffer.alloc(8);
      wide.writeBigInt64LE(-3n);
      expect(Array.from(decodeNumeric(wide, 'INT64', [1], 'x') as BigInt64Array)).toEqual([-3n]);
    });

    it('should refuse a size that is not a multiple of the element, then one not matching the shape', () => {
      expect(() => decodeNumeric(Buffer.alloc(6), 'FP32', [2], 'in')).toThrow(
        'in: binary_data_size 6 is not a multiple of 4, the size of one FP32 element',
      );
      expect(() => decodeNumeric(Buffer.alloc(8), 'FP32', [3], 'in')).toThrow(
        'in: binary_data_size 8 does not match shape [3]: 3 element(s) of FP32 take 12 bytes',
      );
    });
  });

  describe(decodeBytesElements.name, () => {
    const element = (text: string) => {
      const length = Buffer.alloc(4);
      length.writeUInt32LE(text.length);
      return Buffer.concat([length, Buffer.from(text)]);
    };

    it('should split length-prefixed elements, empty ones included', () => {
      const bytes = Buffer.concat([element('ab'), element(''), element('xyz')]);
      expect(decodeBytesElements(bytes, 3, 'x').map(String)).toEqual(['ab', '', 'xyz']);
    });

    it('should refuse a truncated length, a length past the end, and a wrong count', () => {
      expect(() =>
        decodeBytesElements(Buffer.concat([element('a'), Buffer.alloc(2)]), 2, 'x'),
      ).toThrow(/element 1 starts at byte 5 but only 2 byte\(s\) remain/);
      expect(() => decodeBytesElements(element('abc').subarray(0, 6), 1, 'x')).toThrow(
        /element 0 declares 3 bytes but only 2 remain/,
      );
      expect(() => decodeBytesElements(element('a'), 2, 'x')).toThrow(
        /holds 1 BYTES element\(s\) but the shape needs 2/,
      );
    });
  });

  describe(rawFormShape.name, () => {
    it('should make the batch the number of whole rows', () => {
      expect(rawFormShape(spec('float32', [-1, 4]), 48)).toEqual({
        datatype: 'FP32',
        shape: [3, 4],
      });
      expect(rawFormShape(spec('bool', [-1]), 5)).toEqual({ datatype: 'BOOL', shape: [5] });
    });

    it('should refuse free inner dimensions, partial rows and BYTES', () => {
      expect(() => rawFormShape(spec('float32', [-1, -1]), 16)).toThrow(ServingError);
      expect(() => rawFormShape(spec('int32', [-1, 3]), 13)).toThrow(/one row is 12 bytes/);
      expect(() => rawFormShape(spec('string', [-1]), 4)).toThrow(/cannot carry BYTES/);
    });
  });

  describe(tensorBytes.name, () => {
    it('should write float32, int32 and bool tensors as little-endian bytes', () => {
      const floats = tensorBytes({
        name: 'y',
        dtype: 'float32',
        shape: [2],
        data: new Float32Array([1.5, -2]),
      });
      expect(floats.datatype).toBe('FP32');
      expect([floats.bytes.readFloatLE(0), floats.bytes.readFloatLE(4)]).toEqual([1.5, -2]);
      const ints = tensorBytes({
        name: 'y',
        dtype: 'int32',
        shape: [1],
        data: new Int32Array([-7]),
      });
      expect([ints.datatype, ints.bytes.readInt32LE(0)]).toEqual(['INT32', -7]);
      const bools = tensorBytes({
        name: 'y',
        dtype: 'bool',
        shape: [2],
        data: new Uint8Array([1, 0]),
      });
      expect([bools.datatype, [...bools.bytes]]).toEqual(['BOOL', [1, 0]]);
    });
  });

  it('should frame only the V2 infer routes', () => {
    const { route } = V2_BINARY_FRAMING;
    expect(route.test('/v2/models/iris/infer')).toBe(true);
    expect(route.test('/v2/models/iris/versions/2/infer')).toBe(true);
    expect(route.test('/v2/models/iris')).toBe(false);
    expect(route.test('/v1/models/iris:predict')).toBe(false);
    expect(route.test('/predict')).toBe(false);
  });
});
