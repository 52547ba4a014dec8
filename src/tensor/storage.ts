import { dtypeRow, InputDtype } from './dtypes';
import { fromFloat16Bits, toFloat16Bits } from './float16';
import { checkScalar } from './scalar';
import type { EncodedTensor, TypedData } from './tensor';

/**
 * Typed-array storage of tensors: zeroed arrays of an input's dtype, storing checked numbers
 * into them, and taking arrays that already hold the input's dtype as they are.
 */

/** Any typed array a dtype of the table travels in. */
export type NumericArray = TypedData | Int16Array | Uint32Array | BigUint64Array;

/**
 * Buffers allocated here, each for one array: nobody else (an HTTP body, Buffer's shared pool
 * slab) holds them, so they may be moved to an inference thread instead of copied.
 */
const OWNED = new WeakSet<ArrayBufferLike>();

/** Marks a freshly allocated array (its buffer holds nothing else) as free to transfer. */
export function owned<T extends NumericArray>(data: T): T {
  if (data.byteOffset === 0 && data.byteLength === data.buffer.byteLength) OWNED.add(data.buffer);
  return data;
}

/**
 * The buffer to transfer for `data` without a copy, or undefined when it must be copied: it is
 * a view into a larger buffer, or a buffer this process did not allocate for it.
 */
export function ownedBuffer(data: ArrayBufferView): ArrayBuffer | undefined {
  const { buffer } = data;
  const whole = data.byteOffset === 0 && data.byteLength === buffer.byteLength;
  // Only ever holds ArrayBuffers this module allocated (never a SharedArrayBuffer).
  return whole && OWNED.has(buffer) ? (buffer as ArrayBuffer) : undefined;
}

/** A zeroed typed array of the input's dtype: int64 as BigInt64Array, float16 as raw halves. */
export function allocate(dtype: InputDtype, size: number): TypedData {
  return owned(new (dtypeRow(dtype)!.array!)(size) as TypedData);
}

/** Stores checked numbers into an array from `allocate`: int64 as bigint, float16 as its bits. */
export function storer(dtype: InputDtype, data: TypedData): (index: number, value: number) => void {
  if (dtype === 'int64') {
    const big = data as BigInt64Array;
    return (i, v) => (big[i] = BigInt(v));
  }
  const numeric = data as Exclude<TypedData, BigInt64Array>;
  if (dtype === 'float16') return (i, v) => (numeric[i] = toFloat16Bits(v));
  return (i, v) => (numeric[i] = v);
}

/** Numbers already in a typed array: decoded binary data, decoded pixels. */
export interface TypedValues {
  /** The element type of `data` (a row of the dtype table): 'float16' holds raw halves. */
  dtype: string;
  data: NumericArray;
}

/** The number at each index of typed values: halves decoded, 64-bit integers as doubles. */
function reader({ dtype, data }: TypedValues): (index: number) => number {
  if (dtype === 'float16') return (i) => fromFloat16Bits(data[i] as number);
  return (i) => Number(data[i]);
}

/**
 * Typed values as an input of `dtype`, every value checked as checkScalar checks a JSON number.
 * When they already are of that dtype they are taken as they are (a view, no copy) and only
 * scanned where their bytes can hold something the input refuses (non-finite floats, a bool
 * other than 0/1); otherwise they are converted into a new array.
 */
export function packTyped(
  name: string,
  dtype: InputDtype,
  shape: readonly number[],
  values: TypedValues,
  where: (index: number) => string,
): EncodedTensor {
  const read = reader(values);
  const count = values.data.length;
  if (values.dtype === dtype) {
    const data = values.data as TypedData;
    if (dtype === 'float32' || dtype === 'float64') {
      const floats = data as Float32Array | Float64Array;
      for (let i = 0; i < count; i++) {
        if (!Number.isFinite(floats[i])) checkScalar(floats[i], dtype, () => where(i));
      }
    } else if (dtype === 'float16' || dtype === 'bool') {
      for (let i = 0; i < count; i++) checkScalar(read(i), dtype, () => where(i));
    }
    // Integer bytes of the input's own dtype cannot be out of its range: nothing to scan (binary
    // int64 keeps all 64 bits, unlike a JSON number).
    return { name, dtype, shape: [...shape], data };
  }
  const data = allocate(dtype, count);
  const store = storer(dtype, data);
  for (let i = 0; i < count; i++)
    store(
      i,
      checkScalar(read(i), dtype, () => where(i)),
    );
  return { name, dtype, shape: [...shape], data };
}
