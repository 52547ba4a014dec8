import { clip } from '../errors/client-text';
import { ServingError } from '../errors/serving-error';
import { dtypeRow, isInputDtype, InputDtype } from './dtypes';
import { packedOf } from './packed-array';
import { checkScalar, describeValue } from './scalar';
import { FREE_DIM, formatShape, TensorSpec } from './signature';
import { allocate, storer } from './storage';
import { checkStringElement, jsonStringElement, packStrings, STRING_DTYPE } from './strings';
import type { EncodedTensor } from './tensor';

/**
 * Nested-array packing: the one place where a request's nested values are checked against a
 * model's signature and turned into flat typed arrays. Every protocol's JSON formats (the row
 * and columnar formats, V2 data) come through here, so every protocol rejects the same inputs
 * the same way.
 */

/** Names a position inside the request for error messages, e.g. `instances[3][1]`. */
export type PathDescriber = (indices: readonly number[]) => string;

export const indexSuffix = (indices: readonly number[]) => indices.map((i) => `[${i}]`).join('');

/** The input's dtype, or a 400 when the server cannot feed it. */
export function inputDtype(spec: TensorSpec): InputDtype {
  if (isInputDtype(spec.dtype)) return spec.dtype;
  throw ServingError.invalid(
    `input '${spec.name}' has dtype ${spec.dtype}, which this server cannot feed from JSON`,
  );
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
  const expected = spec.shape.map((dim, i) => (i === 0 && batchIsFree ? FREE_DIM : dim));
  if (spec.dtype === STRING_DTYPE) return encodeStrings(spec, expected, value, describe);
  const dtype = inputDtype(spec);
  const packed = encodePacked(spec.name, dtype, expected, value);
  if (packed) return packed;
  const shape = resolveShape(spec, expected, value, describe);
  const expectation = () =>
    `input '${spec.name}' expects shape ${formatShape(spec.shape)} (${dtype})`;
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
      throw ServingError.invalid(
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

/** The shape of a nested value: free dimensions from its first elements, fixed ones checked. */
function resolveShape(
  spec: TensorSpec,
  expected: number[],
  value: unknown,
  describe: PathDescriber,
): number[] {
  const shape = leadingShape(value, expected.length);
  const expectation = () =>
    `input '${spec.name}' expects shape ${formatShape(spec.shape)} (${spec.dtype})`;
  for (let d = 0; d < expected.length; d++) {
    const at = describe(new Array(d).fill(0));
    if (d >= shape.length) {
      throw ServingError.invalid(
        `${at}: expected an array, got ${describeValue(firstAt(value, d))}; ${expectation()}`,
      );
    }
    if (shape[d] === 0) {
      throw ServingError.invalid(`${at}: is an empty array; ${expectation()}`);
    }
    if (expected[d] !== FREE_DIM && shape[d] !== expected[d]) {
      throw ServingError.invalid(
        `${at}: expected ${expected[d]} elements, got ${shape[d]}; ${expectation()}`,
      );
    }
  }
  return shape;
}

/**
 * encodeTensor for a string input: the same shape rules, each element a JSON string (its UTF-8
 * bytes) or TF Serving's `{"b64": "<base64>"}` (any bytes).
 */
function encodeStrings(
  spec: TensorSpec,
  expected: number[],
  value: unknown,
  describe: PathDescriber,
): EncodedTensor {
  const shape = resolveShape(spec, expected, value, describe);
  const elements: Uint8Array[] = [];
  const indices: number[] = [];
  const fill = (node: unknown, depth: number): void => {
    if (depth === shape.length) {
      const where = () => describe(indices);
      const bytes = jsonStringElement(node, where);
      if (!bytes) {
        throw ServingError.invalid(
          `${where()}: expected a string (or {"b64": "<base64>"} for bytes that are not UTF-8), got ${describeValue(node)}; input '${spec.name}' is string ${formatShape(spec.shape)}`,
        );
      }
      checkStringElement(bytes, where);
      elements.push(bytes);
      return;
    }
    if (!Array.isArray(node) || node.length !== shape[depth]) {
      throw ServingError.invalid(
        `${describe(indices)}: expected an array of ${shape[depth]}, got ${describeValue(node)}; ` +
          `all entries must share the shape ${formatShape(shape)} (input '${spec.name}' expects shape ${formatShape(spec.shape)} (string))`,
      );
    }
    for (let i = 0; i < node.length; i++) {
      indices.push(i);
      fill(node[i], depth + 1);
      indices.pop();
    }
  };
  fill(value, 0);
  return packStrings(spec.name, shape, elements) as EncodedTensor;
}

const FLOAT32_MAX = dtypeRow('float32')!.range![1];

/** Makes checkScalar give up instead of wording a 400: the general path words it. */
const GIVE_UP = Symbol('giveUp');
const giveUp = (): never => {
  throw GIVE_UP;
};

export const sameShape = (a: number[], b: number[]) =>
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

export const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** Every input named exactly once: a missing or an unknown key is a client mistake worth naming. */
export function checkInputNames(value: unknown, names: string[], where: string): void {
  if (!isPlainObject(value)) {
    throw ServingError.invalid(
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
    throw ServingError.invalid(
      `${where}: ${parts.join(' and ')}; the model's inputs are ${names.join(', ')}`,
    );
  }
}
