import { BadRequestException } from '@nestjs/common';
import type { FramedBody } from '../body/json-body.middleware';
import { FREE_DIM, formatShape, TensorSpec } from '../../tensor/signature';
import { NumericValues, toV2Datatype } from '../../tensor/tensor-codec';
import { Tensor } from '../../tensor/tensor';

/**
 * The byte level of the V2 binary tensor data extension (Triton's extension_binary_data.md):
 * little-endian, row-major, no padding; BOOL one byte; BYTES elements as a 4-byte little-endian
 * length followed by the bytes. This file turns bytes into typed values and typed outputs into
 * bytes; whether the values fit the model is the tensor codec's business, as for JSON.
 */

export const INFERENCE_HEADER = 'inference-header-content-length';

/** Which requests the body parser reads as a JSON header + binary data (app.setup.ts). */
export const V2_BINARY_FRAMING: FramedBody = {
  header: INFERENCE_HEADER,
  route: /^\/v2\/models\/[^/]+(\/versions\/[^/]+)?\/infer\/?$/,
};

type NumericArrayClass = {
  new (buffer: ArrayBuffer): NumericValues;
  BYTES_PER_ELEMENT: number;
};

/** A Map, not an object: a client's datatype "constructor" must not find Object's. */
const ARRAY_OF = new Map<string, NumericArrayClass>([
  ['BOOL', Uint8Array],
  ['UINT8', Uint8Array],
  ['UINT16', Uint16Array],
  ['UINT32', Uint32Array],
  ['UINT64', BigUint64Array],
  ['INT8', Int8Array],
  ['INT16', Int16Array],
  ['INT32', Int32Array],
  ['INT64', BigInt64Array],
  ['FP16', Uint16Array],
  ['FP32', Float32Array],
  ['FP64', Float64Array],
]);

/** Size in bytes of one element of a fixed-size datatype (undefined for BYTES and unknown ones). */
export const elementSize = (datatype: string): number | undefined =>
  ARRAY_OF.get(datatype)?.BYTES_PER_ELEMENT;

const HOST_IS_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Copies bytes into a fresh (aligned) buffer, in host byte order. */
function hostOrder(bytes: Uint8Array, width: number): ArrayBuffer {
  const copy = Buffer.from(new ArrayBuffer(bytes.length));
  copy.set(bytes);
  if (!HOST_IS_LITTLE_ENDIAN && width === 2) copy.swap16();
  if (!HOST_IS_LITTLE_ENDIAN && width === 4) copy.swap32();
  if (!HOST_IS_LITTLE_ENDIAN && width === 8) copy.swap64();
  return copy.buffer as ArrayBuffer;
}

/** IEEE 754 half precision to a number (subnormals, infinities and NaN included). */
export function halfToNumber(half: number): number {
  const sign = half & 0x8000 ? -1 : 1;
  const exponent = (half >> 10) & 0x1f;
  const fraction = half & 0x3ff;
  if (exponent === 0) return sign * 2 ** -14 * (fraction / 1024);
  if (exponent === 0x1f) return fraction ? NaN : sign * Infinity;
  return sign * 2 ** (exponent - 15) * (1 + fraction / 1024);
}

const byteCount = (count: number, datatype: string) =>
  `${count} element(s) of ${datatype} take ${count * elementSize(datatype)!} bytes`;

/**
 * Decodes one input's bytes: the byte size must be a multiple of the datatype's size and match
 * the shape. FP16 is widened to numbers (TF.js has no half tensors).
 */
export function decodeNumeric(
  bytes: Uint8Array,
  datatype: string,
  shape: number[],
  where: string,
): NumericValues {
  const type = ARRAY_OF.get(datatype)!;
  const size = type.BYTES_PER_ELEMENT;
  if (bytes.length % size !== 0) {
    throw new BadRequestException(
      `${where}: binary_data_size ${bytes.length} is not a multiple of ${size}, the size of one ${datatype} element`,
    );
  }
  const count = shape.reduce((a, b) => a * b, 1);
  if (bytes.length !== count * size) {
    throw new BadRequestException(
      `${where}: binary_data_size ${bytes.length} does not match shape ${formatShape(shape)}: ${byteCount(count, datatype)}`,
    );
  }
  const values = new type(hostOrder(bytes, size));
  if (datatype !== 'FP16') return values;
  return Float32Array.from(values as Uint16Array, halfToNumber);
}

/** BYTES: `count` elements, each a 4-byte little-endian length and that many bytes, exactly filling `bytes`. */
export function decodeBytesElements(bytes: Buffer, count: number, where: string): Buffer[] {
  const elements: Buffer[] = [];
  let offset = 0;
  while (offset < bytes.length) {
    if (offset + 4 > bytes.length) {
      throw new BadRequestException(
        `${where}: BYTES element ${elements.length} starts at byte ${offset} but only ${bytes.length - offset} byte(s) remain for its 4-byte length`,
      );
    }
    const length = bytes.readUInt32LE(offset);
    offset += 4;
    if (offset + length > bytes.length) {
      throw new BadRequestException(
        `${where}: BYTES element ${elements.length} declares ${length} bytes but only ${bytes.length - offset} remain in binary_data_size`,
      );
    }
    elements.push(bytes.subarray(offset, offset + length));
    offset += length;
  }
  if (elements.length !== count) {
    throw new BadRequestException(
      `${where}: binary_data_size holds ${elements.length} BYTES element(s) but the shape needs ${count}`,
    );
  }
  return elements;
}

/**
 * The raw form (Inference-Header-Content-Length: 0): the body is the only input's bytes in the
 * model's own datatype; its batch dimension is the number of whole rows, so every other
 * dimension must be fixed.
 */
export function rawFormShape(
  spec: TensorSpec,
  byteLength: number,
): { datatype: string; shape: number[] } {
  const datatype = toV2Datatype(spec.dtype);
  const size = elementSize(datatype);
  const expects = `input '${spec.name}' is ${datatype} ${formatShape(spec.shape)}`;
  if (size === undefined) {
    throw new BadRequestException(
      `The raw binary form (${INFERENCE_HEADER}: 0) cannot carry ${datatype}; ${expects}: send a JSON header with binary_data_size`,
    );
  }
  const rest = spec.shape.slice(1);
  if (spec.shape.length === 0 || rest.some((dim) => dim === FREE_DIM)) {
    throw new BadRequestException(
      `The raw binary form (${INFERENCE_HEADER}: 0) needs every dimension but the first fixed; ${expects}: send a JSON header giving the shape`,
    );
  }
  const rowBytes = rest.reduce((a, b) => a * b, 1) * size;
  if (byteLength === 0 || byteLength % rowBytes !== 0) {
    throw new BadRequestException(
      `The raw binary body of ${byteLength} bytes is not a whole number of rows: ${expects}, one row is ${rowBytes} bytes`,
    );
  }
  return { datatype, shape: [byteLength / rowBytes, ...rest] };
}

const DATATYPE_OF: Record<string, string> = {
  float32: 'FP32',
  float64: 'FP64',
  float16: 'FP16',
  int8: 'INT8',
  int32: 'INT32',
  int64: 'INT64',
  uint8: 'UINT8',
  bool: 'BOOL',
};

/** An output tensor as binary data: its V2 datatype and its little-endian bytes. */
export function tensorBytes(tensor: Tensor): { datatype: string; bytes: Buffer } {
  const datatype = DATATYPE_OF[tensor.dtype];
  if (datatype === undefined) {
    throw new BadRequestException(
      `output '${tensor.name}' is ${tensor.dtype}, which has no binary form here; ask for it as JSON`,
    );
  }
  const { data } = tensor;
  const view = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  if (HOST_IS_LITTLE_ENDIAN || data.BYTES_PER_ELEMENT === 1) return { datatype, bytes: view };
  return {
    datatype,
    bytes: Buffer.from(hostOrder(view, data.BYTES_PER_ELEMENT)),
  };
}
