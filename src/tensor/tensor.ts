import type { InputDtype, TensorDtype } from './dtypes';
import { fromFloat16Bits } from './float16';
import { isStringTensor, isUtf8Text, stringElements } from './strings';

/**
 * The neutral tensor every protocol maps to and from at its edge, and the only form that crosses
 * into and out of the inference threads (typed arrays are transferable; nested arrays are not).
 */

export type { TensorDtype };

export type TypedData =
  Float32Array | Float64Array | Int8Array | Int32Array | BigInt64Array | Uint8Array | Uint16Array;

/**
 * One named tensor, row-major, batch first. bool is one byte per element; float16 raw halves;
 * string (see strings.ts) every element's bytes one after another in `data`, split by `offsets`.
 */
export interface Tensor {
  name: string;
  dtype: TensorDtype;
  shape: number[];
  data: TypedData;
  /** string tensors only: element i is data[offsets[i] - offsets[0], offsets[i + 1] - offsets[0]). */
  offsets?: Uint32Array;
}

/** A request's input, checked against the model's signature: ready to run. */
export interface EncodedTensor extends Tensor {
  dtype: InputDtype | 'string';
}

export const elementCount = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

/**
 * Plain JSON numbers of a tensor's data; float16 decoded from its bits. int64 becomes a double:
 * exact up to 2^53, the nearest double beyond (inputs are range-checked by the codec; an output
 * that needs every bit is asked for as V2 binary data, see the datatypes table in docs/models.md).
 */
export function toNumbers(tensor: Tensor): number[] {
  if (isStringTensor(tensor)) throw new Error(`toNumbers: '${tensor.name}' is a string tensor`);
  if (tensor.dtype === 'float16') return Array.from(tensor.data as Uint16Array, fromFloat16Bits);
  return Array.from(tensor.data as ArrayLike<number | bigint>, Number);
}

/**
 * A string tensor's elements as JSON values: UTF-8 text as a string, other bytes as TF Serving's
 * `{"b64": ...}`, as is every element of an output whose name ends in `_bytes` (TF Serving's rule).
 */
export function toJsonStrings(tensor: Tensor): (string | { b64: string })[] {
  const binary = tensor.name.endsWith('_bytes');
  return stringElements(tensor).map((bytes) => {
    const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    return !binary && isUtf8Text(bytes)
      ? buffer.toString('utf8')
      : { b64: buffer.toString('base64') };
  });
}

/** A tensor as nested arrays (batch first), the shape the row and columnar JSON formats answer in. */
export function toNested(tensor: Tensor): unknown[] {
  const flat: unknown[] = isStringTensor(tensor) ? toJsonStrings(tensor) : toNumbers(tensor);
  const { shape } = tensor;
  if (shape.length === 0) return flat;
  const build = (depth: number, offset: number): unknown[] => {
    const size = shape[depth];
    if (depth === shape.length - 1) return flat.slice(offset, offset + size);
    const stride = elementCount(shape.slice(depth + 1));
    return Array.from({ length: size }, (_, i) => build(depth + 1, offset + i * stride));
  };
  return build(0, 0);
}

/** Output tensors of one run, keyed by output name. */
export type TensorMap = Record<string, Tensor>;

/** The nested form of every output, keyed by output name. */
export const toNestedMap = (outputs: TensorMap): Record<string, unknown[]> =>
  Object.fromEntries(Object.entries(outputs).map(([name, t]) => [name, toNested(t)]));
