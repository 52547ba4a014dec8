import { FLOAT16_MAX } from './float16';

/**
 * The one table of element types. Every other dtype list (the dtypes fed to inputs, the V2
 * datatypes and their ranges, TensorFlow's DataType names, ONNX Runtime's and TF.js's element
 * types, the typed array each travels in) is derived from it, so a dtype is added in one row.
 */

/** How a dtype's values are checked and in which order V2 lists its datatypes. */
export type DtypeKind = 'bool' | 'uint' | 'int' | 'float' | 'bytes' | 'complex';

type NumericArrayClass =
  | Float32ArrayConstructor
  | Float64ArrayConstructor
  | Int8ArrayConstructor
  | Int16ArrayConstructor
  | Int32ArrayConstructor
  | BigInt64ArrayConstructor
  | Uint8ArrayConstructor
  | Uint16ArrayConstructor
  | Uint32ArrayConstructor
  | BigUint64ArrayConstructor;

export interface DtypeRow {
  /** The server's name, TF.js's and ONNX Runtime's alike. */
  readonly dtype: string;
  readonly kind: DtypeKind;
  /** Open Inference Protocol (V2) datatype. */
  readonly v2?: string;
  /** TensorFlow's DataType, as model.json signatures and TF Serving metadata name it. */
  readonly tf: string;
  /** Triton's DataType in model_config.proto, as config.pbtxt names it (TYPE_FP32, ...). */
  readonly triton?: string;
  /** ONNX Runtime's element type (its `Tensor.Type`). */
  readonly onnx?: string;
  /** TF.js has tensors of it. */
  readonly tfjs: boolean;
  /** The server feeds model inputs of it (JSON numbers or binary data). */
  readonly fed: boolean;
  /** The typed array its elements travel in: float16 as raw halves, bool one byte each. */
  readonly array?: NumericArrayClass;
  /** Smallest and largest value it holds. */
  readonly range?: readonly [number, number];
  /** Size of one element where no typed array holds it (complex64: two float32s). */
  readonly bytes?: number;
}

const FLOAT32_MAX = 3.4028234663852886e38;

// Ordered as INPUT_DTYPES lists them (and ONNX load errors name them).
export const DTYPES = [
  {
    dtype: 'float32',
    kind: 'float',
    v2: 'FP32',
    tf: 'DT_FLOAT',
    triton: 'TYPE_FP32',
    onnx: 'float32',
    tfjs: true,
    fed: true,
    array: Float32Array,
    range: [-FLOAT32_MAX, FLOAT32_MAX],
  },
  {
    dtype: 'float64',
    kind: 'float',
    v2: 'FP64',
    tf: 'DT_DOUBLE',
    triton: 'TYPE_FP64',
    onnx: 'float64',
    tfjs: false,
    fed: true,
    array: Float64Array,
    range: [-Number.MAX_VALUE, Number.MAX_VALUE],
  },
  {
    dtype: 'float16',
    kind: 'float',
    v2: 'FP16',
    tf: 'DT_HALF',
    triton: 'TYPE_FP16',
    onnx: 'float16',
    tfjs: false,
    fed: true,
    array: Uint16Array,
    range: [-FLOAT16_MAX, FLOAT16_MAX],
  },
  {
    dtype: 'int8',
    kind: 'int',
    v2: 'INT8',
    tf: 'DT_INT8',
    triton: 'TYPE_INT8',
    onnx: 'int8',
    tfjs: false,
    fed: true,
    array: Int8Array,
    range: [-128, 127],
  },
  {
    dtype: 'int16',
    kind: 'int',
    v2: 'INT16',
    tf: 'DT_INT16',
    triton: 'TYPE_INT16',
    onnx: 'int16',
    tfjs: false,
    fed: false,
    array: Int16Array,
    range: [-32768, 32767],
  },
  {
    dtype: 'int32',
    kind: 'int',
    v2: 'INT32',
    tf: 'DT_INT32',
    triton: 'TYPE_INT32',
    onnx: 'int32',
    tfjs: true,
    fed: true,
    array: Int32Array,
    range: [-2147483648, 2147483647],
  },
  {
    dtype: 'int64',
    kind: 'int',
    v2: 'INT64',
    tf: 'DT_INT64',
    triton: 'TYPE_INT64',
    onnx: 'int64',
    tfjs: false,
    fed: true,
    array: BigInt64Array,
    range: [-(2 ** 63), 2 ** 63 - 1],
  },
  {
    dtype: 'uint8',
    kind: 'uint',
    v2: 'UINT8',
    tf: 'DT_UINT8',
    triton: 'TYPE_UINT8',
    onnx: 'uint8',
    tfjs: false,
    fed: true,
    array: Uint8Array,
    range: [0, 255],
  },
  {
    dtype: 'uint16',
    kind: 'uint',
    v2: 'UINT16',
    tf: 'DT_UINT16',
    triton: 'TYPE_UINT16',
    onnx: 'uint16',
    tfjs: false,
    fed: false,
    array: Uint16Array,
    range: [0, 65535],
  },
  {
    dtype: 'uint32',
    kind: 'uint',
    v2: 'UINT32',
    tf: 'DT_UINT32',
    triton: 'TYPE_UINT32',
    onnx: 'uint32',
    tfjs: false,
    fed: false,
    array: Uint32Array,
    range: [0, 4294967295],
  },
  {
    dtype: 'uint64',
    kind: 'uint',
    v2: 'UINT64',
    tf: 'DT_UINT64',
    triton: 'TYPE_UINT64',
    onnx: 'uint64',
    tfjs: false,
    fed: false,
    array: BigUint64Array,
    range: [0, 2 ** 64 - 1],
  },
  {
    dtype: 'bool',
    kind: 'bool',
    v2: 'BOOL',
    tf: 'DT_BOOL',
    triton: 'TYPE_BOOL',
    onnx: 'bool',
    tfjs: true,
    fed: true,
    array: Uint8Array,
    range: [0, 1],
  },
  {
    dtype: 'string',
    kind: 'bytes',
    v2: 'BYTES',
    tf: 'DT_STRING',
    triton: 'TYPE_STRING',
    onnx: 'string',
    tfjs: true,
    fed: false,
  },
  { dtype: 'complex64', kind: 'complex', tf: 'DT_COMPLEX64', tfjs: true, fed: false, bytes: 8 },
] as const satisfies readonly DtypeRow[];

type Row = (typeof DTYPES)[number];

/** Element types the server feeds to model inputs. */
export type InputDtype = Extract<Row, { fed: true }>['dtype'];

type Carried = Extract<Row, { fed: true } | { kind: 'bytes' }>;

/** Element types a tensor may carry between the edge and an engine. */
export type TensorDtype = Carried['dtype'];

/** A Map, not an object: a client's dtype "constructor" must not find Object's. */
const BY_DTYPE: ReadonlyMap<string, DtypeRow> = new Map(DTYPES.map((row) => [row.dtype, row]));

/** The row of a dtype, or undefined for a name the table does not hold. */
export const dtypeRow = (dtype: string): DtypeRow | undefined => BY_DTYPE.get(dtype);

/** TF.js models take float32, int32 and bool; ONNX models every dtype listed here. */
export const INPUT_DTYPES: readonly InputDtype[] = DTYPES.filter(
  (row): row is Extract<Row, { fed: true }> => row.fed,
).map((row) => row.dtype);

export const TENSOR_DTYPES: readonly TensorDtype[] = DTYPES.filter(
  (row): row is Carried => row.fed || row.kind === 'bytes',
).map((row) => row.dtype);

export const isInputDtype = (dtype: string): dtype is InputDtype =>
  BY_DTYPE.get(dtype)?.fed === true;

/** TensorFlow's DataType name of each dtype, as model.json signatures and TF Serving metadata use them. */
export const TF_DATA_TYPES: Readonly<Record<string, string>> = Object.fromEntries(
  DTYPES.map((row) => [row.dtype, row.tf]),
);

/** Triton's TYPE_* name of each dtype that has one. */
export const TRITON_DATA_TYPES: Readonly<Record<string, string>> = Object.fromEntries(
  DTYPES.flatMap((row) => ('triton' in row ? [[row.dtype, row.triton]] : [])),
);

/** The dtype a Triton TYPE_* name stands for, or undefined (TYPE_BF16 and others this server lacks). */
export function dtypeOfTriton(dataType: string): string | undefined {
  return DTYPES.find((row) => 'triton' in row && row.triton === dataType)?.dtype;
}

/** Size in bytes of one element (undefined for string, whose elements have no fixed size). */
export function bytesPerElement(dtype: string): number | undefined {
  const row = BY_DTYPE.get(dtype);
  return row?.array?.BYTES_PER_ELEMENT ?? row?.bytes;
}
