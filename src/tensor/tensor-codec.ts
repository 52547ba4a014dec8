import { BadRequestException } from '@nestjs/common';
import { clip } from '../errors/client-text';
import { FLOAT16_MAX, toFloat16Bits } from './float16';
import { PackedBlock, packedOf } from './packed-array';
import { FREE_DIM, formatShape, INPUT_DTYPES, InputDtype, TensorSpec } from './signature';
import type { TypedData } from './tensor';

/**
 * The one place where request values are checked against a model's signature and turned
 * into flat typed arrays. Every protocol (the /predict rows format, and the adapters built on
 * ModelService) goes through here, so every protocol rejects the same inputs the same way.
 */

/** A checked input, ready to become a tensor. */
export interface EncodedTensor {
  name: string;
  dtype: InputDtype;
  shape: number[];
  data: TypedData;
}

/** Names a position inside the request for error messages, e.g. `instances[3][1]`. */
export type PathDescriber = (indices: readonly number[]) => string;

const FLOAT32_MAX = 3.4028234663852886e38;
const INT32_MIN = -2147483648;
const INT32_MAX = 2147483647;

/** Integer ranges of the integral input dtypes. int64 stops at 2^53 - 1: past it a JSON number is no longer exact. */
const INTEGER_RANGES: Partial<Record<InputDtype, [number, number]>> = {
  int8: [-128, 127],
  uint8: [0, 255],
  int32: [INT32_MIN, INT32_MAX],
  int64: [-Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER],
};
const FLOAT_LIMITS: Partial<Record<InputDtype, number>> = {
  float16: FLOAT16_MAX,
  float32: FLOAT32_MAX,
  float64: Number.MAX_VALUE,
};

const indexSuffix = (indices: readonly number[]) => indices.map((i) => `[${i}]`).join('');

function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return `an array of ${value.length}`;
  if (typeof value === 'object') return 'an object';
  if (typeof value === 'string') return `the string ${JSON.stringify(value.slice(0, 20))}`;
  return String(value);
}

function inputDtype(spec: TensorSpec): InputDtype {
  if (INPUT_DTYPES.includes(spec.dtype as InputDtype)) return spec.dtype as InputDtype;
  throw new BadRequestException(
    `input '${spec.name}' has dtype ${spec.dtype}, which this server cannot feed from JSON`,
  );
}

function checkInteger(value: number, dtype: InputDtype, where: () => string): void {
  const [min, max] = INTEGER_RANGES[dtype]!;
  if (Number.isInteger(value) && value >= min && value <= max) return;
  if (dtype === 'int64' && Number.isInteger(value)) {
    // JSON.parse has already rounded such a number to the nearest double: refuse, never guess.
    throw new BadRequestException(
      `${where()}: ${value} is outside the range a JSON number holds exactly for int64 ` +
        `(±${max}, 2^53 - 1); larger int64 values need the binary V2 tensor data`,
    );
  }
  throw new BadRequestException(
    `${where()}: expected an integer in ${dtype} range [${min}, ${max}], got ${value}`,
  );
}

/** Checks one scalar against the input's dtype and returns its numeric value. */
export function checkScalar(value: unknown, dtype: InputDtype, where: () => string): number {
  if (dtype === 'bool') {
    if (typeof value === 'boolean') return value ? 1 : 0;
    if (value === 0 || value === 1) return value;
    throw new BadRequestException(`${where()}: expected a boolean, got ${describeValue(value)}`);
  }
  if (typeof value !== 'number') {
    throw new BadRequestException(
      `${where()}: expected a number (${dtype}), got ${describeValue(value)}`,
    );
  }
  if (!Number.isFinite(value)) {
    throw new BadRequestException(`${where()}: expected a finite number, got ${value}`);
  }
  if (dtype in INTEGER_RANGES) {
    checkInteger(value, dtype, where);
  } else if (Math.abs(value) > FLOAT_LIMITS[dtype]!) {
    throw new BadRequestException(
      `${where()}: ${value} is outside the ${dtype} range (±${FLOAT_LIMITS[dtype]})`,
    );
  }
  return value;
}

/** A zeroed typed array of the input's dtype: int64 as BigInt64Array, float16 as raw halves. */
export function allocate(dtype: InputDtype, size: number): TypedData {
  switch (dtype) {
    case 'float64':
      return new Float64Array(size);
    case 'float16':
      return new Uint16Array(size);
    case 'int8':
      return new Int8Array(size);
    case 'int32':
      return new Int32Array(size);
    case 'int64':
      return new BigInt64Array(size);
    case 'uint8':
    case 'bool':
      return new Uint8Array(size);
    default:
      return new Float32Array(size);
  }
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

/**
 * Reads the shape of a nested array by following first elements, at most `rank` deep. When
 * encoding, whether every element really has that shape is checked while filling.
 */
export function leadingShape(value: unknown, rank = Infinity): number[] {
  const shape: number[] = [];
  let cursor = value;
  while (shape.length < rank && Array.isArray(cursor)) {
    shape.push(cursor.length);
    cursor = cursor[0];
  }
  return shape;
}

/**
 * Checks a whole batched value (a nested array whose first dimension is the batch) against the
 * input's signature and packs it row-major into a typed array.
 *
 * @param batchIsFree the batch dimension is checked by the caller (e.g. a model with a fixed
 *        batch of 1 still accepts many instances, run one at a time).
 */
export function encodeTensor(
  spec: TensorSpec,
  value: unknown,
  describe: PathDescriber,
  batchIsFree = true,
): EncodedTensor {
  const dtype = inputDtype(spec);
  const expected = spec.shape.map((dim, i) => (i === 0 && batchIsFree ? FREE_DIM : dim));
  const packed = encodePacked(spec.name, dtype, expected, value);
  if (packed) return packed;
  const shape = leadingShape(value, expected.length);
  const expectation = () =>
    `input '${spec.name}' expects shape ${formatShape(spec.shape)} (${dtype})`;

  // Resolve free dimensions from the first elements and check the fixed ones.
  for (let d = 0; d < expected.length; d++) {
    const at = describe(new Array(d).fill(0));
    if (d >= shape.length) {
      throw new BadRequestException(
        `${at}: expected an array, got ${describeValue(firstAt(value, d))}; ${expectation()}`,
      );
    }
    if (shape[d] === 0) {
      throw new BadRequestException(`${at}: is an empty array; ${expectation()}`);
    }
    if (expected[d] !== FREE_DIM && shape[d] !== expected[d]) {
      throw new BadRequestException(
        `${at}: expected ${expected[d]} elements, got ${shape[d]}; ${expectation()}`,
      );
    }
  }

  const data = allocate(
    dtype,
    shape.reduce((a, b) => a * b, 1),
  );
  const store = storer(dtype, data);
  let offset = 0;
  const indices: number[] = [];
  const fill = (node: unknown, depth: number): void => {
    if (depth === shape.length) {
      store(
        offset++,
        checkScalar(node, dtype, () => describe(indices)),
      );
      return;
    }
    if (!Array.isArray(node) || node.length !== shape[depth]) {
      throw new BadRequestException(
        `${describe(indices)}: expected an array of ${shape[depth]}, got ${describeValue(node)}; ` +
          `all entries must share the shape ${formatShape(shape)} (${expectation()})`,
      );
    }
    for (let i = 0; i < node.length; i++) {
      indices.push(i);
      fill(node[i], depth + 1);
      indices.pop();
    }
  };
  fill(value, 0);
  return { name: spec.name, dtype, shape, data };
}

/** Makes checkScalar give up instead of wording a 400: the general path words it. */
const GIVE_UP = Symbol('giveUp');
const giveUp = (): never => {
  throw GIVE_UP;
};

const sameShape = (a: number[], b: number[]) =>
  a.length === b.length && a.every((dim, i) => dim === b[i]);

/**
 * The numbers of `value` when it was parsed packed (see packedArray): one block of the input's
 * rank, or a plain array of blocks one rank lower (rows of the "instances" format keyed by name).
 */
function packedParts(value: unknown, rank: number) {
  const block = packedOf(value);
  if (block)
    return block.shape.length === rank ? { shape: block.shape, parts: [block.data] } : undefined;
  if (!Array.isArray(value) || value.length === 0) return undefined;
  const first = packedOf(value[0]);
  if (!first || first.shape.length !== rank - 1) return undefined;
  const parts: Float64Array[] = [];
  for (const row of value) {
    const part = packedOf(row);
    if (!part || !sameShape(part.shape, first.shape)) return undefined;
    parts.push(part.data);
  }
  return { shape: [value.length, ...first.shape], parts };
}

/**
 * encodeTensor's fast path for packed values: no tree to walk, a typed array to copy from.
 * Undefined whenever anything is off (a shape, a value): the general path then finds the same
 * first fault and words the very same 400.
 */
function encodePacked(
  name: string,
  dtype: InputDtype,
  expected: number[],
  value: unknown,
): EncodedTensor | undefined {
  const packed = packedParts(value, expected.length);
  if (!packed || packed.shape.some((dim, d) => expected[d] !== FREE_DIM && dim !== expected[d])) {
    return undefined;
  }
  const shape = [...packed.shape];
  const data = allocate(
    dtype,
    shape.reduce((a, b) => a * b, 1),
  );
  let offset = 0;
  if (dtype === 'float32') {
    for (const part of packed.parts) {
      // checkScalar's float32 test in one comparison (NaN fails it too).
      for (let i = 0; i < part.length; i++)
        if (!(Math.abs(part[i]) <= FLOAT32_MAX)) return undefined;
      (data as Float32Array).set(part, offset);
      offset += part.length;
    }
    return { name, dtype, shape, data };
  }
  const store = storer(dtype, data);
  try {
    for (const part of packed.parts) {
      for (let i = 0; i < part.length; i++) store(offset++, checkScalar(part[i], dtype, giveUp));
    }
  } catch (error) {
    if (error === GIVE_UP) return undefined;
    throw error;
  }
  return { name, dtype, shape, data };
}

function firstAt(value: unknown, depth: number): unknown {
  let cursor = value;
  for (let d = 0; d < depth && Array.isArray(cursor); d++) cursor = cursor[0];
  return cursor;
}

const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * Encodes the row ("instances") format: one entry per example, without the batch dimension.
 * A single-input model takes the bare value (or an object keyed by its input name); a
 * multi-input model takes an object keyed by input name.
 */
export function encodeInstances(inputs: TensorSpec[], instances: unknown[]): EncodedTensor[] {
  // A packed batch holds numbers only (and reading its first row would unpack it).
  const named = inputs.length > 1 || (!packedOf(instances) && isPlainObject(instances[0]));
  if (!named) {
    return [encodeTensor(inputs[0], instances, (idx) => `instances${indexSuffix(idx)}`)];
  }
  const names = inputs.map((spec) => spec.name);
  instances.forEach((instance, i) => checkInputNames(instance, names, `instances[${i}]`));
  return inputs.map((spec) =>
    encodeTensor(
      spec,
      instances.map((instance) => (instance as Record<string, unknown>)[spec.name]),
      ([row, ...rest]) =>
        row === undefined
          ? `instances[*].${spec.name}`
          : `instances[${row}].${spec.name}${indexSuffix(rest)}`,
    ),
  );
}

/**
 * Encodes the columnar format (TF Serving's "inputs"): each input's whole batched value, keyed
 * by input name, or bare for a single-input model. Inputs need not share their 0-th dimension.
 */
export function encodeColumns(inputs: TensorSpec[], value: unknown): EncodedTensor[] {
  const named = inputs.length > 1 || isPlainObject(value);
  if (!named) {
    return [encodeTensor(inputs[0], value, (idx) => `inputs${indexSuffix(idx)}`)];
  }
  checkInputNames(
    value,
    inputs.map((spec) => spec.name),
    'inputs',
  );
  return inputs.map((spec) =>
    encodeTensor(
      spec,
      (value as Record<string, unknown>)[spec.name],
      (idx) => `inputs.${spec.name}${indexSuffix(idx)}`,
    ),
  );
}

/** Every input named exactly once: a missing or an unknown key is a client mistake worth naming. */
export function checkInputNames(value: unknown, names: string[], where: string): void {
  if (!isPlainObject(value)) {
    throw new BadRequestException(
      `${where}: expected an object keyed by input name (${names.join(', ')}), got ${describeValue(value)}`,
    );
  }
  // Own keys only: `"toString" in {}` is true. The first unknown key is enough to name; a body
  // of thousands of them must not cost a message listing them all.
  const missing = names.filter((name) => !Object.hasOwn(value, name));
  let unknown: string | undefined;
  for (const key in value) {
    if (!names.includes(key)) {
      unknown = key;
      break;
    }
  }
  if (missing.length > 0 || unknown !== undefined) {
    const parts = [
      missing.length > 0 ? `missing input(s) ${missing.join(', ')}` : '',
      unknown !== undefined ? `unknown input(s) ${clip(unknown)}` : '',
    ].filter(Boolean);
    throw new BadRequestException(
      `${where}: ${parts.join(' and ')}; the model's inputs are ${names.join(', ')}`,
    );
  }
}

// ---- Open Inference Protocol (V2): explicit shape + datatype + flat or nested row-major data ----

/** V2 tensor datatypes and the value range each declares (BYTES carries strings). */
/** A Map, not an object: a client's datatype "constructor" must not find Object's. */
const V2_RANGES = new Map<string, [number, number] | 'bool' | 'bytes'>([
  ['BOOL', 'bool'],
  ['UINT8', [0, 255]],
  ['UINT16', [0, 65535]],
  ['UINT32', [0, 4294967295]],
  ['UINT64', [0, 2 ** 64 - 1]],
  ['INT8', [-128, 127]],
  ['INT16', [-32768, 32767]],
  ['INT32', [INT32_MIN, INT32_MAX]],
  ['INT64', [-(2 ** 63), 2 ** 63 - 1]],
  ['FP16', [-65504, 65504]],
  ['FP32', [-FLOAT32_MAX, FLOAT32_MAX]],
  ['FP64', [-Number.MAX_VALUE, Number.MAX_VALUE]],
  ['BYTES', 'bytes'],
]);
export const V2_DATATYPES = [...V2_RANGES.keys()];

/** V2 datatype of each tensor dtype (TF.js and ONNX Runtime name element types alike). */
const V2_NAMES: Record<string, string> = {
  float16: 'FP16',
  float32: 'FP32',
  float64: 'FP64',
  int8: 'INT8',
  int16: 'INT16',
  int32: 'INT32',
  int64: 'INT64',
  uint8: 'UINT8',
  uint16: 'UINT16',
  uint32: 'UINT32',
  uint64: 'UINT64',
  bool: 'BOOL',
  string: 'BYTES',
};

/** The V2 datatype of a tensor dtype, as reported in metadata and responses. */
export function toV2Datatype(dtype: string): string {
  return V2_NAMES[dtype] ?? dtype.toUpperCase();
}

/** One V2 request input, as the client sent it. */
export interface V2TensorInput {
  name: string;
  shape: number[];
  datatype: string;
  data: unknown[];
}

/** The declared datatype's own range: a client claiming UINT8 must not send 300 or 1.5. */
function checkDeclared(value: number, datatype: string, where: () => string): void {
  const range = V2_RANGES.get(datatype);
  if (!Array.isArray(range)) return;
  const integral = datatype.includes('INT');
  if ((integral && !Number.isInteger(value)) || value < range[0] || value > range[1]) {
    throw new BadRequestException(
      `${where()}: ${value} is not a valid ${datatype} (expected ${integral ? 'an integer' : 'a number'} in [${range[0]}, ${range[1]}])`,
    );
  }
}

/**
 * The error flattenData's walk raises for packed data whose shape is not `shape`: every element
 * of a block has the block's shape, so the walk fails along the first elements, at the first
 * dimension that differs.
 */
function packedMismatch(block: PackedBlock, shape: number[], where: string): BadRequestException {
  const count = shape.reduce((a, b) => a * b, 1);
  if (block.shape.length === 1) {
    return new BadRequestException(
      `${where}: shape ${formatShape(shape)} holds ${count} elements but data has ${block.shape[0]}`,
    );
  }
  for (let depth = 0; ; depth++) {
    const path = `data${'[0]'.repeat(depth)}`;
    if (depth === shape.length) {
      return new BadRequestException(
        `${where}: ${path} is nested deeper than shape ${formatShape(shape)}`,
      );
    }
    const nested = depth < block.shape.length;
    if (!nested || block.shape[depth] !== shape[depth]) {
      const got = nested ? `an array of ${block.shape[depth]}` : describeValue(block.data[0]);
      return new BadRequestException(
        `${where}: ${path} should be an array of ${shape[depth]} to match shape ${formatShape(shape)}, got ${got}`,
      );
    }
  }
}

/** Flattens row-major data; nested data must be shaped exactly like `shape`. */
function flattenData(given: unknown[], shape: number[], where: string): ArrayLike<unknown> {
  const count = shape.reduce((a, b) => a * b, 1);
  // Packed data (see packedArray), flat or nested as declared, is already flat: no tree to walk.
  const block = packedOf(given);
  if (block?.data.length === count && (block.shape.length === 1 || sameShape(block.shape, shape))) {
    return block.data;
  }
  // Packed but not as declared: name what is wrong from the block's shape, without building
  // its arrays (2 million elements took the main thread 0.8 s through the proxy, 28-deep
  // nesting seconds as plain arrays).
  if (block) throw packedMismatch(block, shape, where);
  const data = given;
  if (!data.some(Array.isArray)) {
    if (data.length !== count) {
      throw new BadRequestException(
        `${where}: shape ${formatShape(shape)} holds ${count} elements but data has ${data.length}`,
      );
    }
    return data;
  }
  const flat: unknown[] = [];
  const walk = (node: unknown, depth: number, path: string): void => {
    if (depth === shape.length) {
      if (Array.isArray(node)) {
        throw new BadRequestException(
          `${where}: ${path} is nested deeper than shape ${formatShape(shape)}`,
        );
      }
      flat.push(node);
      return;
    }
    if (!Array.isArray(node) || node.length !== shape[depth]) {
      throw new BadRequestException(
        `${where}: ${path} should be an array of ${shape[depth]} to match shape ${formatShape(shape)}, got ${describeValue(node)}`,
      );
    }
    node.forEach((child, i) => walk(child, depth + 1, `${path}[${i}]`));
  };
  walk(data, 0, 'data');
  return flat;
}

/** What the codec needs to know of a V2 input besides its values. */
export interface V2TensorHeader {
  shape: number[];
  datatype: string;
}

/**
 * Checks a V2 input's datatype and shape against the model's input spec, and returns the dtype
 * it is packed into: the datatype must fit the input (BOOL only for bool inputs; any numeric
 * datatype for int32/float32 inputs), the shape must fit the signature (same rank, fixed dims
 * equal, the batch dim free) and hold at least one element.
 */
export function checkV2Header(spec: TensorSpec, input: V2TensorHeader, where: string): InputDtype {
  const dtype = inputDtype(spec);
  const { datatype, shape } = input;
  const expected = toV2Datatype(dtype);
  const range = V2_RANGES.get(datatype);
  if (range === undefined) {
    throw new BadRequestException(
      `${where}: unknown datatype '${clip(datatype)}'; expected one of ${V2_DATATYPES.join(', ')} (input '${spec.name}' is ${expected})`,
    );
  }
  if (range === 'bytes' || (range === 'bool') !== (dtype === 'bool')) {
    throw new BadRequestException(
      `${where}: datatype ${datatype} cannot feed input '${spec.name}', which is ${expected} ${formatShape(spec.shape)}; send ${dtype === 'bool' ? 'BOOL' : `${expected} or another numeric datatype`}`,
    );
  }
  const fits =
    shape.length === spec.shape.length &&
    shape.every((dim, i) => i === 0 || spec.shape[i] === FREE_DIM || spec.shape[i] === dim);
  if (!fits) {
    throw new BadRequestException(
      `${where}: shape ${formatShape(shape)} does not fit input '${spec.name}', which expects ${formatShape(spec.shape)} (-1 = any size)`,
    );
  }
  if (shape.some((dim) => dim === 0)) {
    throw new BadRequestException(`${where}: shape ${formatShape(shape)} holds no element`);
  }
  return dtype;
}

/**
 * Checks a V2 JSON input against the model's input spec and packs it: datatype and shape as
 * checkV2Header says, the data holding exactly the shape's elements, and every value valid for
 * both the declared datatype and the model's dtype (checkScalar, as for every other protocol).
 */
export function encodeV2Tensor(
  spec: TensorSpec,
  input: V2TensorInput,
  where: string,
): EncodedTensor {
  const dtype = checkV2Header(spec, input, where);
  const { datatype, shape } = input;
  const flat = flattenData(input.data, shape, where);
  const data = allocate(dtype, flat.length);
  const store = storer(dtype, data);
  for (let i = 0; i < flat.length; i++) {
    const at = () => `${where}.data[${i}] (flat index)`;
    const number = checkScalar(flat[i], dtype, at);
    if (dtype !== 'bool') checkDeclared(number, datatype, at);
    store(i, number);
  }
  return { name: spec.name, dtype, shape: [...shape], data };
}

/** Values already decoded from bytes (V2 binary tensor data): one typed array per input. */
export type NumericValues = ArrayLike<number> | BigInt64Array | BigUint64Array;

/**
 * The binary twin of encodeV2Tensor: the same datatype and shape checks, then every value
 * through checkScalar (finite, in the model dtype's range, 0/1 for BOOL). The declared
 * datatype's own range needs no check: bytes of a datatype cannot hold anything else. When the
 * declared datatype is the model's own, the values are copied in one go and only scanned.
 */
export function encodeV2Values(
  spec: TensorSpec,
  input: V2TensorHeader,
  values: NumericValues,
  where: string,
): EncodedTensor {
  const dtype = checkV2Header(spec, input, where);
  const count = input.shape.reduce((a, b) => a * b, 1);
  if (values.length !== count) {
    throw new BadRequestException(
      `${where}: shape ${formatShape(input.shape)} holds ${count} elements but the data has ${values.length}`,
    );
  }
  const data = allocate(dtype, count);
  let i = 0;
  const at = () => `${where}: element ${i} (flat index)`;
  const same = data.constructor === values.constructor;
  if (same) (data as Int32Array).set(values as Int32Array);
  // int32 or int64 bytes fed to an input of that dtype cannot be out of range: nothing to scan
  // (binary int64 keeps all 64 bits, unlike a JSON number).
  if (same && (dtype === 'int32' || dtype === 'int64')) {
    return { name: spec.name, dtype, shape: [...input.shape], data };
  }
  const copiedFloats = same && dtype === 'float32';
  const store = storer(dtype, data);
  for (; i < count; i++) {
    const value = Number(values[i]);
    // Copied floats only need the finiteness test; checkScalar runs (and words the 400) otherwise.
    if (copiedFloats && Number.isFinite(value)) continue;
    store(i, checkScalar(value, dtype, at));
  }
  return { name: spec.name, dtype, shape: [...input.shape], data };
}
