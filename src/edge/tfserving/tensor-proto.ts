import { endianness } from 'node:os';
import { clip } from '../../errors/client-text';
import { ServingError } from '../../errors/serving-error';
import { fromFloat16Bits } from '../../tensor/float16';
import { packedArray } from '../../tensor/packed-array';
import { formatShape } from '../../tensor/signature';
import { isUtf8Text, stringElements } from '../../tensor/strings';
import { elementCount, Tensor } from '../../tensor/tensor';

/**
 * tensorflow.TensorProto (tensorflow/core/framework/tensor.proto) <-> this server's tensors, as
 * pure functions. A request tensor becomes the value TF Serving REST's columnar format would
 * carry for it (nested arrays of numbers, booleans or strings), so the REST codec checks it
 * against the signature and words every 400 exactly as REST does; numbers travel packed (one
 * Float64Array, see packed-array.ts), so no tree of arrays is built for them.
 */

/** A TensorShapeProto as @grpc/proto-loader decodes it (int64 as a string). */
export interface TensorShapeMessage {
  dim?: { size?: string | number; name?: string }[];
  unknown_rank?: boolean;
}

/**
 * A TensorProto as @grpc/proto-loader decodes it with keepCase, enums and longs as strings and
 * bytes as Buffers (see TF_SERVING_LOADER_OPTIONS); the same shape serializes back.
 */
export interface TensorProtoMessage {
  dtype?: string;
  tensor_shape?: TensorShapeMessage | null;
  version_number?: number;
  tensor_content?: Uint8Array;
  half_val?: number[];
  float_val?: number[];
  double_val?: number[];
  int_val?: number[];
  string_val?: Uint8Array[];
  scomplex_val?: number[];
  int64_val?: (string | number)[];
  bool_val?: boolean[];
  dcomplex_val?: number[];
  resource_handle_val?: unknown[];
  variant_val?: unknown[];
  uint32_val?: number[];
  uint64_val?: (string | number)[];
}

type ValueField = Exclude<keyof TensorProtoMessage, 'dtype' | 'tensor_shape' | 'version_number'>;

/** Every field that carries values: a tensor sets at most one of them. */
const VALUE_FIELDS: ValueField[] = [
  'tensor_content',
  'half_val',
  'float_val',
  'double_val',
  'int_val',
  'string_val',
  'scomplex_val',
  'int64_val',
  'bool_val',
  'dcomplex_val',
  'resource_handle_val',
  'variant_val',
  'uint32_val',
  'uint64_val',
];

/** How a DataType this server reads travels: its typed field and its tensor_content layout. */
interface DtypeLayout {
  field: ValueField;
  /** Bytes per element in tensor_content; none for DT_STRING (TF's own string encoding). */
  bytes?: number;
  /** Reads tensor_content (little-endian) into numbers or bigints. */
  view?: (buffer: ArrayBuffer) => ArrayLike<number | bigint>;
  /** The integer range a 32-bit typed field must stay in for this dtype. */
  range?: [number, number];
  /** A 16-bit pattern (half_val) to the number it holds. */
  decodeBits?: (bits: number) => number;
}

const bfloat16 = (bits: number) => {
  const view = new DataView(new ArrayBuffer(4));
  view.setUint32(0, bits << 16);
  return view.getFloat32(0);
};

const LAYOUTS: Record<string, DtypeLayout> = {
  DT_FLOAT: { field: 'float_val', bytes: 4, view: (b) => new Float32Array(b) },
  DT_DOUBLE: { field: 'double_val', bytes: 8, view: (b) => new Float64Array(b) },
  DT_INT32: { field: 'int_val', bytes: 4, view: (b) => new Int32Array(b) },
  DT_UINT8: { field: 'int_val', bytes: 1, view: (b) => new Uint8Array(b), range: [0, 255] },
  DT_INT16: { field: 'int_val', bytes: 2, view: (b) => new Int16Array(b), range: [-32768, 32767] },
  DT_UINT16: { field: 'int_val', bytes: 2, view: (b) => new Uint16Array(b), range: [0, 65535] },
  DT_INT8: { field: 'int_val', bytes: 1, view: (b) => new Int8Array(b), range: [-128, 127] },
  DT_INT64: { field: 'int64_val', bytes: 8, view: (b) => new BigInt64Array(b) },
  DT_UINT32: { field: 'uint32_val', bytes: 4, view: (b) => new Uint32Array(b) },
  DT_UINT64: { field: 'uint64_val', bytes: 8, view: (b) => new BigUint64Array(b) },
  DT_BOOL: { field: 'bool_val', bytes: 1, view: (b) => new Uint8Array(b) },
  DT_HALF: {
    field: 'half_val',
    bytes: 2,
    view: (b) => new Uint16Array(b),
    range: [0, 65535],
    decodeBits: fromFloat16Bits,
  },
  DT_BFLOAT16: {
    field: 'half_val',
    bytes: 2,
    view: (b) => new Uint16Array(b),
    range: [0, 65535],
    decodeBits: bfloat16,
  },
  DT_STRING: { field: 'string_val' },
};

/** The DataTypes a request tensor may have. */
export const TENSOR_PROTO_DTYPES = Object.keys(LAYOUTS);

/** TensorFlow's TensorShape refuses more dimensions than this; so does this server. */
export const MAX_RANK = 254;

/** A request tensor read from its proto: its shape, and its values row-major. */
export interface DecodedTensorProto {
  dtype: string;
  shape: number[];
  values: ArrayLike<number> | boolean[] | (string | { b64: string })[];
}

const invalid = (message: string) => ServingError.invalid(message);

const hasValues = (value: unknown) =>
  value !== undefined && value !== null && (value as ArrayLike<unknown>).length > 0;

/** The dimensions of a request tensor: each known (>= 0), at most MAX_RANK of them. */
export function readShape(shape: TensorShapeMessage | null | undefined, where: string): number[] {
  if (shape?.unknown_rank) {
    throw invalid(
      `${where}: tensor_shape has unknown_rank set; a request tensor needs its dimensions (dim)`,
    );
  }
  const dims = shape?.dim ?? [];
  if (dims.length > MAX_RANK) {
    throw invalid(`${where}: tensor_shape has ${dims.length} dimensions; at most ${MAX_RANK}`);
  }
  return dims.map((dim, i) => {
    const text = String(dim.size ?? 0);
    const size = Number(text);
    if (size === -1) {
      throw invalid(
        `${where}: tensor_shape.dim[${i}].size is -1 (unknown); a request tensor's dimensions must be known sizes (-1 is for signatures)`,
      );
    }
    if (!Number.isSafeInteger(size) || size < 0) {
      throw invalid(`${where}: tensor_shape.dim[${i}].size is ${clip(text)}; expected a size >= 0`);
    }
    return size;
  });
}

/** A copy of `bytes` in its own buffer, in this machine's byte order, for a typed-array view. */
function alignedCopy(bytes: Uint8Array, width: number): ArrayBuffer {
  // A Buffer's slice() is a view into its pool: copy into a buffer of the tensor's own.
  const copy = new Uint8Array(bytes);
  if (endianness() === 'BE' && width > 1) {
    for (let i = 0; i < copy.length; i += width) copy.subarray(i, i + width).reverse();
  }
  return copy.buffer;
}

function fromContent(
  dtype: string,
  layout: DtypeLayout,
  content: Uint8Array,
  count: number,
  shape: number[],
  where: string,
): ArrayLike<number | bigint> {
  if (!layout.view || !layout.bytes) {
    throw invalid(
      `${where}: ${dtype} values go in ${layout.field}; tensor_content is not read for ${dtype}`,
    );
  }
  const needed = count * layout.bytes;
  if (content.length !== needed) {
    throw invalid(
      `${where}: tensor_content holds ${content.length} bytes, but shape ${formatShape(shape)} of ${dtype} needs ${needed} (${count} elements of ${layout.bytes} bytes, little-endian)`,
    );
  }
  return layout.view(alignedCopy(content, layout.bytes));
}

/** Numbers of a typed field, each checked against the 32-bit field's range for its dtype. */
function checkRange(
  dtype: string,
  layout: DtypeLayout,
  values: ArrayLike<number>,
  where: string,
): void {
  if (!layout.range) return;
  const [min, max] = layout.range;
  for (let i = 0; i < values.length; i++) {
    const value = values[i];
    if (!Number.isInteger(value) || value < min || value > max) {
      throw invalid(
        `${where}: ${layout.field}[${i}] is ${value}, not a valid ${dtype} (expected an integer in [${min}, ${max}])`,
      );
    }
  }
}

/** Numbers as the JSON codec reads them: int64 as the nearest double, as JSON.parse would give. */
function toDoubles(
  values: ArrayLike<number | bigint | string>,
  decodeBits?: (bits: number) => number,
) {
  const doubles = new Float64Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const value = Number(values[i]);
    doubles[i] = decodeBits ? decodeBits(value) : value;
  }
  return doubles;
}

function restStringValue(bytes: Uint8Array): string | { b64: string } {
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return isUtf8Text(bytes) ? buffer.toString('utf8') : { b64: buffer.toString('base64') };
}

/**
 * Reads a request TensorProto: a known dtype, a known shape, and exactly as many values as the
 * shape holds, either in the dtype's typed field or as little-endian tensor_content.
 */
export function decodeTensorProto(proto: TensorProtoMessage, where: string): DecodedTensorProto {
  const dtype = proto.dtype ?? 'DT_INVALID';
  const layout = LAYOUTS[dtype];
  if (!layout) {
    throw invalid(
      `${where}: dtype ${clip(dtype)} is not accepted; send one of ${TENSOR_PROTO_DTYPES.join(', ')}`,
    );
  }
  const shape = readShape(proto.tensor_shape, where);
  const count = elementCount(shape);
  const set = VALUE_FIELDS.filter((field) => hasValues(proto[field]));
  if (set.length > 1) {
    throw invalid(`${where}: values in both ${set.join(' and ')}; set only one of them`);
  }
  const [field] = set;
  if (field !== undefined && field !== 'tensor_content' && field !== layout.field) {
    const fields = layout.bytes ? `${layout.field} or tensor_content` : layout.field;
    throw invalid(`${where}: ${dtype} values go in ${fields}, but ${field} is set`);
  }
  if (field === 'tensor_content') {
    const raw = fromContent(dtype, layout, proto.tensor_content!, count, shape, where);
    if (dtype === 'DT_BOOL') return { dtype, shape, values: Array.from(raw, (b) => b !== 0) };
    return { dtype, shape, values: toDoubles(raw, layout.decodeBits) };
  }
  const values = (field === undefined ? [] : proto[field]) as ArrayLike<unknown>;
  if (values.length !== count) {
    throw invalid(
      `${where}: shape ${formatShape(shape)} holds ${count} elements, but ${layout.field} has ${values.length}`,
    );
  }
  if (dtype === 'DT_STRING') {
    // As REST carries them: UTF-8 text as strings, any other bytes as {"b64"}, so none change.
    return { dtype, shape, values: Array.from(values as Uint8Array[], restStringValue) };
  }
  if (dtype === 'DT_BOOL') return { dtype, shape, values: Array.from(values as boolean[]) };
  checkRange(dtype, layout, values as ArrayLike<number>, where);
  return {
    dtype,
    shape,
    values: toDoubles(values as ArrayLike<number | string>, layout.decodeBits),
  };
}

/**
 * The elements of a DT_STRING tensor of shape [n] as raw bytes: TF Serving's way to send encoded
 * image files, one per element (tf.make_tensor_proto([jpeg_bytes])).
 */
export function decodeStringBytes(proto: TensorProtoMessage, where: string): Buffer[] {
  const shape = readShape(proto.tensor_shape, where);
  const values = proto.string_val ?? [];
  const others = VALUE_FIELDS.filter((field) => field !== 'string_val' && hasValues(proto[field]));
  if (others.length > 0) {
    throw invalid(`${where}: DT_STRING values go in string_val, but ${others.join(', ')} is set`);
  }
  if (shape.length !== 1 || shape[0] !== values.length || values.length === 0) {
    throw invalid(
      `${where}: encoded images travel as a DT_STRING tensor of shape [n], one file per element; got shape ${formatShape(shape)} with ${values.length} string_val`,
    );
  }
  return values.map((bytes) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
}

/** Nested arrays of `values` shaped like `shape` (a bare value for rank 0). */
function nest(values: ArrayLike<unknown>, shape: number[]): unknown {
  if (shape.length === 0) return values[0];
  const build = (depth: number, offset: number): unknown[] => {
    const size = shape[depth];
    if (depth === shape.length - 1)
      return Array.from({ length: size }, (_, i) => values[offset + i]);
    const stride = elementCount(shape.slice(depth + 1));
    return Array.from({ length: size }, (_, i) => build(depth + 1, offset + i * stride));
  };
  return build(0, 0);
}

/**
 * The value TF Serving REST's columnar format ("inputs") would carry for this tensor. Numbers
 * of a shape without empty dimensions are packed; booleans, strings and empty tensors are plain
 * nested arrays, which the codec refuses or reads as it does JSON.
 */
export function toColumnValue(tensor: DecodedTensorProto): unknown {
  const { shape, values } = tensor;
  if (values instanceof Float64Array && shape.length > 0 && !shape.includes(0)) {
    return packedArray({ shape: [...shape], data: values });
  }
  return nest(values, shape);
}

const shapeProto = (shape: number[]): TensorShapeMessage => ({
  dim: shape.map((size) => ({ size: String(size) })),
});

/**
 * An output tensor as TF Serving answers it by default: typed fields (float_val, int_val...),
 * int64 as decimal strings so every bit survives, float16 as its bit patterns in half_val.
 */
export function toTensorProto(tensor: Tensor): TensorProtoMessage {
  const tensor_shape = shapeProto(tensor.shape);
  const data = tensor.data;
  switch (tensor.dtype) {
    case 'float32':
      return { dtype: 'DT_FLOAT', tensor_shape, float_val: Array.from(data as Float32Array) };
    case 'float64':
      return { dtype: 'DT_DOUBLE', tensor_shape, double_val: Array.from(data as Float64Array) };
    case 'float16':
      return { dtype: 'DT_HALF', tensor_shape, half_val: Array.from(data as Uint16Array) };
    case 'int8':
      return { dtype: 'DT_INT8', tensor_shape, int_val: Array.from(data as Int8Array) };
    case 'int32':
      return { dtype: 'DT_INT32', tensor_shape, int_val: Array.from(data as Int32Array) };
    case 'uint8':
      return { dtype: 'DT_UINT8', tensor_shape, int_val: Array.from(data as Uint8Array) };
    case 'int64':
      return {
        dtype: 'DT_INT64',
        tensor_shape,
        int64_val: Array.from(data as BigInt64Array, String),
      };
    case 'bool':
      return {
        dtype: 'DT_BOOL',
        tensor_shape,
        bool_val: Array.from(data as Uint8Array, (b) => b !== 0),
      };
    case 'string':
      return {
        dtype: 'DT_STRING',
        tensor_shape,
        string_val: stringElements(tensor).map((bytes) =>
          Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength),
        ),
      };
    default:
      throw ServingError.internal(
        `output '${tensor.name}' has dtype ${tensor.dtype}, which this server cannot write as a TensorProto`,
      );
  }
}
