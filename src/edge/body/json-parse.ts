import { BadRequestException, PayloadTooLargeException } from '@nestjs/common';
import { PackedBlock, packedArray } from '../../tensor/packed-array';
import { checkJsonLimits, JsonLimits } from './json-limits';
import { scanPackedJson } from './json-scan';

const describeJson = (value: unknown): string => {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return `a ${typeof value}`;
};

/** NaN/Infinity literals outside strings are the usual cause worth a hint; anything else is not. */
const NON_STANDARD_NUMBER = /(^|[\s,:[])-?(NaN|Infinity)\b/;

/**
 * Parses `bytes` as a JSON object after checking them against the depth/element limits (one
 * pass over the raw bytes, before JSON.parse allocates anything). Every error names what was
 * wrong: the parser's own message (it names the token and where), the end of the body when it
 * stops early, a NaN/Infinity hint only when the body holds such a literal, and the type of a
 * body that parsed but is not an object.
 */
export function parseJsonObject(bytes: Buffer, limits: JsonLimits | undefined, what = 'body') {
  if (limits) checkJsonLimits(bytes, limits);
  let text = bytes.toString('utf8');
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    let message = `Malformed JSON ${what}: ${(error as Error).message}`;
    const position = /at position (\d+)/.exec(message)?.[1];
    if (/Unexpected end/.test(message) || Number(position) === text.length) {
      message += ` (the ${what} ends at byte ${bytes.length} before the JSON is complete)`;
    }
    if (NON_STANDARD_NUMBER.test(text)) {
      message += '; NaN and Infinity are not valid JSON numbers';
    }
    throw new BadRequestException(`${message}. Expected a JSON object`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new BadRequestException(
      `The request ${what} must be a JSON object, got ${describeJson(value)}`,
    );
  }
  return value as Record<string, unknown>;
}

/** Where a block sat in the parsed value: keys and indices from the root. */
export type JsonPath = (string | number)[];

/** A parsed value with its large numeric arrays taken out (null in their place). */
export interface PackedTree {
  value: unknown;
  blocks: { path: JsonPath; block: PackedBlock }[];
}

/** `node` as one block when it is a rectangular nested array of numbers of at least `min` values. */
function tryPack(node: unknown[], min: number): PackedBlock | undefined {
  const shape: number[] = [];
  let cursor: unknown = node;
  while (Array.isArray(cursor)) {
    if (cursor.length === 0) return undefined;
    shape.push(cursor.length);
    cursor = cursor[0];
  }
  if (typeof cursor !== 'number') return undefined;
  const size = shape.reduce((a, b) => a * b, 1);
  if (size < min) return undefined;
  const data = new Float64Array(size);
  const last = shape.length - 1;
  let offset = 0;
  const fill = (array: unknown, depth: number): boolean => {
    if (!Array.isArray(array) || array.length !== shape[depth]) return false;
    if (depth === last) {
      for (const value of array as unknown[]) {
        if (typeof value !== 'number') return false;
        data[offset++] = value;
      }
      return true;
    }
    return (array as unknown[]).every((child) => fill(child, depth + 1));
  };
  return fill(node, 0) ? { shape, data } : undefined;
}

/** Arrays of fewer numbers stay ordinary arrays: a proxy costs more than it saves on them. */
export const MIN_PACKED_NUMBERS = 256;

/** Why a parsed value was not packed. */
export type PackRefusal = { tooManyValues: number } | { protoKey: true };

/**
 * Takes every rectangular array of at least `min` numbers out of a JSON.parse result, as
 * Float64Arrays that can be transferred between threads. Anything else (ragged or mixed arrays,
 * strings, booleans, small arrays) stays as it is, so the rebuilt value is JSON.parse's own.
 * Refused when more than `maxValues` values (containers and leaves) are left, or when the value
 * has a `__proto__` key, which a copy between threads might not reproduce faithfully.
 */
export function packNumericArrays(
  root: unknown,
  min: number,
  maxValues = Infinity,
): PackedTree | PackRefusal {
  const blocks: PackedTree['blocks'] = [];
  const path: JsonPath = [];
  let refusal: PackRefusal | undefined;
  let values = 0;
  // Leaves are only counted, and a container is written to only where a block replaces an
  // array: a body of 400,000 keys is mostly leaves.
  const children = (node: object): void => {
    if (Array.isArray(node)) {
      for (let i = 0; i < node.length && !refusal; i++) visit(node as unknown[], i);
      return;
    }
    for (const key of Object.keys(node)) {
      if (key === '__proto__') refusal = { protoKey: true };
      if (refusal) return;
      visit(node as Record<string, unknown>, key);
    }
  };
  const visit = (parent: unknown[] | Record<string, unknown>, key: string | number): void => {
    const at = parent as Record<string | number, unknown>;
    if (++values > maxValues) refusal = { tooManyValues: maxValues };
    const node = at[key];
    if (refusal || typeof node !== 'object' || node === null) return;
    path.push(key);
    const block = Array.isArray(node) ? tryPack(node, min) : undefined;
    if (block) {
      blocks.push({ path: [...path], block });
      at[key] = null;
    } else {
      children(node);
    }
    path.pop();
  };
  if (++values > maxValues) refusal = { tooManyValues: maxValues };
  const block = Array.isArray(root) ? tryPack(root, min) : undefined;
  if (block) blocks.push({ path: [], block });
  else if (typeof root === 'object' && root !== null) children(root);
  const value = block ? null : root;
  return refusal ?? { value, blocks };
}

/**
 * Parses a JSON body (parseJsonObject: limits, parse, object check) and packs its numeric
 * tensors, wherever it runs: in a parse thread, which then hands only the packed tree to the
 * main thread, or on the main thread itself. Every value left outside the tensors costs its
 * receiver a copy (measured: a 4 MB body of 2 million nested arrays held the main thread 1.8 s
 * as a copy, 0.45 s as a parse), so a body leaving more than JSON_MAX_VALUES of them is refused
 * here, before the main thread pays for it. Real inputs pack into a few blocks: a 224x224x3 image
 * is one block, 1,024 rows of named features ~5,000 values.
 */
export function parsePackedJson(
  bytes: Buffer,
  limits: JsonLimits | undefined,
  what: string,
  minPacked: number,
): PackedTree {
  // A request's tensors read straight into their blocks; the scan leaves anything else to this.
  const scanned = scanPackedJson(bytes, limits, minPacked, limits?.maxValues);
  if (scanned) return scanned;
  const packed = packNumericArrays(
    parseJsonObject(bytes, limits, what),
    minPacked,
    limits?.maxValues,
  );
  if ('protoKey' in packed) {
    throw new BadRequestException(
      `The JSON ${what} has a "__proto__" key; no request field has that name`,
    );
  }
  if ('tooManyValues' in packed) {
    throw new PayloadTooLargeException(
      `The JSON ${what} holds more than ${packed.tooManyValues} values besides its numeric arrays (JSON_MAX_VALUES); send tensors as arrays of numbers, fewer entries, or V2 binary data`,
    );
  }
  return packed;
}

/** Puts the blocks back in as arrays that read like JSON.parse's (see packedArray). */
export function unpackTree(tree: PackedTree): unknown {
  for (const { path, block } of tree.blocks) {
    let parent = tree.value as Record<string | number, unknown>;
    for (const key of path.slice(0, -1)) parent = parent[key] as Record<string | number, unknown>;
    parent[path[path.length - 1]] = packedArray(block);
  }
  return tree.value;
}

/** parsePackedJson on this thread, the tensors put back as packed arrays: a request body. */
export function parseJsonBody(
  bytes: Buffer,
  limits: JsonLimits | undefined,
  what = 'body',
  minPacked = MIN_PACKED_NUMBERS,
): Record<string, unknown> {
  return unpackTree(parsePackedJson(bytes, limits, what, minPacked)) as Record<string, unknown>;
}
