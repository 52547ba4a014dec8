import { clip } from '../../errors/client-text';
import { ServingError } from '../../errors/serving-error';
import type { InputDtype } from '../../tensor/dtypes';
import { PackedBlock, packedOf } from '../../tensor/packed-array';
import { inputDtype, sameShape } from '../../tensor/packing';
import { checkScalar, describeValue } from '../../tensor/scalar';
import { FREE_DIM, formatShape, TensorSpec } from '../../tensor/signature';
import { allocate, NumericArray, packTyped, storer } from '../../tensor/storage';
import {
  checkStringElement,
  jsonStringElement,
  packStrings,
  STRING_DTYPE,
} from '../../tensor/strings';
import type { EncodedTensor } from '../../tensor/tensor';
import { decodeNumeric } from './v2-binary';
import { toV2Datatype, V2_DATATYPE, V2_DATATYPES } from './v2-datatypes';

/**
 * The Open Inference Protocol (V2) tensor codec: explicit shape + datatype, and data as flat
 * or nested row-major JSON, or as bytes (binary tensor data, gRPC raw contents). The values go
 * through tensor/ (checkScalar, packing, storage) as every protocol's do.
 */

/** One V2 request input, as the client sent it. */
export interface V2TensorInput {
  name: string;
  shape: number[];
  datatype: string;
  data: unknown[];
}

/** The declared datatype's own range: a client claiming UINT8 must not send 300 or 1.5. */
function checkDeclared(value: number, datatype: string, where: () => string): void {
  const { kind, range } = V2_DATATYPE.get(datatype)!;
  if (kind !== 'float' && kind !== 'int' && kind !== 'uint') return;
  const integral = kind !== 'float';
  if ((integral && !Number.isInteger(value)) || value < range![0] || value > range![1]) {
    throw ServingError.invalid(
      `${where()}: ${value} is not a valid ${datatype} (expected ${integral ? 'an integer' : 'a number'} in [${range![0]}, ${range![1]}])`,
    );
  }
}

/**
 * The error flattenData's walk raises for packed data whose shape is not `shape`: every element
 * of a block has the block's shape, so the walk fails along the first elements, at the first
 * dimension that differs.
 */
function packedMismatch(block: PackedBlock, shape: number[], where: string): ServingError {
  const count = shape.reduce((a, b) => a * b, 1);
  if (block.shape.length === 1) {
    return ServingError.invalid(
      `${where}: shape ${formatShape(shape)} holds ${count} elements but data has ${block.shape[0]}`,
    );
  }
  for (let depth = 0; ; depth++) {
    const path = `data${'[0]'.repeat(depth)}`;
    if (depth === shape.length) {
      return ServingError.invalid(
        `${where}: ${path} is nested deeper than shape ${formatShape(shape)}`,
      );
    }
    const nested = depth < block.shape.length;
    if (!nested || block.shape[depth] !== shape[depth]) {
      const got = nested ? `an array of ${block.shape[depth]}` : describeValue(block.data[0]);
      return ServingError.invalid(
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
      throw ServingError.invalid(
        `${where}: shape ${formatShape(shape)} holds ${count} elements but data has ${data.length}`,
      );
    }
    return data;
  }
  const flat: unknown[] = [];
  const walk = (node: unknown, depth: number, path: string): void => {
    if (depth === shape.length) {
      if (Array.isArray(node)) {
        throw ServingError.invalid(
          `${where}: ${path} is nested deeper than shape ${formatShape(shape)}`,
        );
      }
      flat.push(node);
      return;
    }
    if (!Array.isArray(node) || node.length !== shape[depth]) {
      throw ServingError.invalid(
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
export function checkV2Header(
  spec: TensorSpec,
  input: V2TensorHeader,
  where: string,
): InputDtype | typeof STRING_DTYPE {
  const dtype = spec.dtype === STRING_DTYPE ? STRING_DTYPE : inputDtype(spec);
  const { datatype, shape } = input;
  const expected = toV2Datatype(dtype);
  const row = V2_DATATYPE.get(datatype);
  if (row === undefined) {
    throw ServingError.invalid(
      `${where}: unknown datatype '${clip(datatype)}'; expected one of ${V2_DATATYPES.join(', ')} (input '${spec.name}' is ${expected})`,
    );
  }
  if (dtype === STRING_DTYPE) {
    if (row.kind !== 'bytes') {
      throw ServingError.invalid(
        `${where}: datatype ${datatype} cannot feed input '${spec.name}', which is BYTES ${formatShape(spec.shape)} (strings); send BYTES`,
      );
    }
  } else if (row.kind === 'bytes' || (row.kind === 'bool') !== (dtype === 'bool')) {
    throw ServingError.invalid(
      `${where}: datatype ${datatype} cannot feed input '${spec.name}', which is ${expected} ${formatShape(spec.shape)}; send ${dtype === 'bool' ? 'BOOL' : `${expected} or another numeric datatype`}`,
    );
  }
  const fits =
    shape.length === spec.shape.length &&
    shape.every((dim, i) => i === 0 || spec.shape[i] === FREE_DIM || spec.shape[i] === dim);
  if (!fits) {
    throw ServingError.invalid(
      `${where}: shape ${formatShape(shape)} does not fit input '${spec.name}', which expects ${formatShape(spec.shape)} (-1 = any size)`,
    );
  }
  if (shape.some((dim) => dim === 0)) {
    throw ServingError.invalid(`${where}: shape ${formatShape(shape)} holds no element`);
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
  if (dtype === STRING_DTYPE) return encodeV2Strings(spec, shape, flat, where);
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

/** BYTES elements given as JSON: each a string, its UTF-8 bytes (Triton's JSON form of BYTES). */
function encodeV2Strings(
  spec: TensorSpec,
  shape: number[],
  flat: ArrayLike<unknown>,
  where: string,
): EncodedTensor {
  const elements = Array.from(flat, (value, i) => {
    const at = () => `${where}.data[${i}] (flat index)`;
    if (typeof value !== 'string') {
      throw ServingError.invalid(
        `${at()}: expected a string (a BYTES element), got ${describeValue(value)}; bytes that are not UTF-8 travel as binary data (parameters.binary_data_size)`,
      );
    }
    const bytes = jsonStringElement(value, at)!;
    checkStringElement(bytes, at);
    return bytes;
  });
  return packStrings(spec.name, shape, elements);
}

/**
 * BYTES elements (binary data, gRPC bytes_contents or raw contents) as a string input: the
 * header checked as for any input, then each element taken byte-exact.
 */
export function encodeV2Elements(
  spec: TensorSpec,
  input: V2TensorHeader,
  elements: readonly Uint8Array[],
  where: string,
): EncodedTensor {
  checkV2Header(spec, input, where);
  elements.forEach((bytes, i) =>
    checkStringElement(bytes, () => `${where}: element ${i} (flat index)`),
  );
  return packStrings(spec.name, input.shape, elements);
}

/**
 * The binary twin of encodeV2Tensor: the same datatype and shape checks, then every value
 * (`values` in the declared datatype's typed array, FP16 as raw halves)
 * through checkScalar (finite, in the model dtype's range, 0/1 for BOOL). The declared
 * datatype's own range needs no check: bytes of a datatype cannot hold anything else. Values
 * already of the model's dtype are taken as they are (packTyped), not copied.
 */
export function encodeV2Values(
  spec: TensorSpec,
  input: V2TensorHeader,
  values: NumericArray,
  where: string,
): EncodedTensor {
  // Numeric bytes never pass checkV2Header for a string input.
  const dtype = checkV2Header(spec, input, where) as InputDtype;
  const count = input.shape.reduce((a, b) => a * b, 1);
  if (values.length !== count) {
    throw ServingError.invalid(
      `${where}: shape ${formatShape(input.shape)} holds ${count} elements but the data has ${values.length}`,
    );
  }
  // The array class alone cannot tell FP16 halves from UINT16: the declared datatype does.
  const typed = { dtype: V2_DATATYPE.get(input.datatype)!.dtype, data: values };
  return packTyped(
    spec.name,
    dtype,
    input.shape,
    typed,
    (i) => `${where}: element ${i} (flat index)`,
  );
}

/**
 * One V2 tensor given as bytes (binary tensor data, or gRPC's raw_input_contents): little-endian,
 * row-major, as `header` declares, checked against the model's input. Bytes already in the
 * model's dtype become the input without a copy when they are aligned for it.
 */
export function decodeV2Tensor(
  spec: TensorSpec,
  header: V2TensorHeader,
  bytes: Uint8Array,
  where: string,
): EncodedTensor {
  checkV2Header(spec, header, where);
  return encodeV2Values(
    spec,
    header,
    decodeNumeric(bytes, header.datatype, header.shape, where),
    where,
  );
}
