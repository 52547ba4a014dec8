import { ServingError } from '../../errors/serving-error';
import type { FramedBody } from '../body/json-body.middleware';
import { FREE_DIM, formatShape, TensorSpec } from '../../tensor/signature';
import { NumericArray, owned } from '../../tensor/storage';
import { isStringTensor, stringElements } from '../../tensor/strings';
import { Tensor } from '../../tensor/tensor';
import { elementSize, toV2Datatype, V2_DATATYPE } from './v2-datatypes';

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

const HOST_IS_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Copies bytes into a fresh (aligned) buffer of their own, in host byte order. */
function hostOrder(bytes: Uint8Array, width: number): ArrayBuffer {
  const copy = Buffer.from(new ArrayBuffer(bytes.length));
  copy.set(bytes);
  if (!HOST_IS_LITTLE_ENDIAN && width === 2) copy.swap16();
  if (!HOST_IS_LITTLE_ENDIAN && width === 4) copy.swap32();
  if (!HOST_IS_LITTLE_ENDIAN && width === 8) copy.swap64();
  return copy.buffer as ArrayBuffer;
}

const byteCount = (count: number, datatype: string) =>
  `${count} element(s) of ${datatype} take ${count * elementSize(datatype)!} bytes`;

/**
 * Decodes one input's bytes: the byte size must be a multiple of the datatype's size and match
 * the shape. The values are a view of `bytes` where the host is little-endian and the offset is
 * aligned for the datatype (a Float32Array needs a multiple of 4), else one copy in host order;
 * FP16 stays raw halves. A view shares the body's buffer: tensor/storage's ownedBuffer knows it
 * is not the codec's to transfer, so it is copied once when it leaves for an inference thread.
 */
export function decodeNumeric(
  bytes: Uint8Array,
  datatype: string,
  shape: number[],
  where: string,
): NumericArray {
  const type = V2_DATATYPE.get(datatype)!.array!;
  const size = type.BYTES_PER_ELEMENT;
  if (bytes.length % size !== 0) {
    throw ServingError.invalid(
      `${where}: binary_data_size ${bytes.length} is not a multiple of ${size}, the size of one ${datatype} element`,
    );
  }
  const count = shape.reduce((a, b) => a * b, 1);
  if (bytes.length !== count * size) {
    throw ServingError.invalid(
      `${where}: binary_data_size ${bytes.length} does not match shape ${formatShape(shape)}: ${byteCount(count, datatype)}`,
    );
  }
  const aligned = HOST_IS_LITTLE_ENDIAN && bytes.byteOffset % size === 0;
  return aligned
    ? new type(bytes.buffer as ArrayBuffer, bytes.byteOffset, count)
    : owned(new type(hostOrder(bytes, size)));
}

/** BYTES: `count` elements, each a 4-byte little-endian length and that many bytes, exactly filling `bytes`. */
export function decodeBytesElements(bytes: Buffer, count: number, where: string): Buffer[] {
  const elements: Buffer[] = [];
  let offset = 0;
  while (offset < bytes.length) {
    if (offset + 4 > bytes.length) {
      throw ServingError.invalid(
        `${where}: BYTES element ${elements.length} starts at byte ${offset} but only ${bytes.length - offset} byte(s) remain for its 4-byte length`,
      );
    }
    const length = bytes.readUInt32LE(offset);
    offset += 4;
    if (offset + length > bytes.length) {
      throw ServingError.invalid(
        `${where}: BYTES element ${elements.length} declares ${length} bytes but only ${bytes.length - offset} remain in binary_data_size`,
      );
    }
    elements.push(bytes.subarray(offset, offset + length));
    offset += length;
  }
  if (elements.length !== count) {
    throw ServingError.invalid(
      `${where}: binary_data_size holds ${elements.length} BYTES element(s) but the shape needs ${count}`,
    );
  }
  return elements;
}

/** BYTES elements framed as the extension (and gRPC's raw contents) carry them. */
export function frameBytesElements(elements: readonly Uint8Array[]): Buffer {
  const framed = Buffer.alloc(elements.reduce((n, e) => n + 4 + e.length, 0));
  let offset = 0;
  for (const element of elements) {
    framed.writeUInt32LE(element.length, offset);
    framed.set(element, offset + 4);
    offset += 4 + element.length;
  }
  return framed;
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
    throw ServingError.invalid(
      `The raw binary form (${INFERENCE_HEADER}: 0) cannot carry ${datatype}; ${expects}: send a JSON header with binary_data_size`,
    );
  }
  const rest = spec.shape.slice(1);
  if (spec.shape.length === 0 || rest.some((dim) => dim === FREE_DIM)) {
    throw ServingError.invalid(
      `The raw binary form (${INFERENCE_HEADER}: 0) needs every dimension but the first fixed; ${expects}: send a JSON header giving the shape`,
    );
  }
  const rowBytes = rest.reduce((a, b) => a * b, 1) * size;
  if (byteLength === 0 || byteLength % rowBytes !== 0) {
    throw ServingError.invalid(
      `The raw binary body of ${byteLength} bytes is not a whole number of rows: ${expects}, one row is ${rowBytes} bytes`,
    );
  }
  return { datatype, shape: [byteLength / rowBytes, ...rest] };
}

/** An output tensor as binary data: its V2 datatype and its little-endian bytes. */
export function tensorBytes(tensor: Tensor): { datatype: string; bytes: Buffer } {
  const datatype = toV2Datatype(tensor.dtype);
  if (isStringTensor(tensor)) {
    return { datatype, bytes: frameBytesElements(stringElements(tensor)) };
  }
  if (elementSize(datatype) === undefined) {
    throw ServingError.invalid(
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
