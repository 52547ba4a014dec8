import { PackedBlock, packedArray } from '../tensor/packed-array';

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

/**
 * Values (containers and leaves) a packed tree may still hold. Copying a tree to another thread
 * costs its receiver several times what JSON.parse of the same values costs (measured: a 4 MB
 * body of 2 million nested arrays held the main thread 1.8 s as a copy, 0.45 s as a parse), so
 * a tree that packing leaves this large is cheaper parsed where it is used. Real inputs pack into
 * a few blocks: a 224x224x3 image is one block, 1,024 rows of named features ~5,000 values.
 */
export const MAX_COPIED_VALUES = 50_000;

/**
 * Takes every rectangular array of at least `min` numbers out of a JSON.parse result, as
 * Float64Arrays that can be transferred between threads. Anything else (ragged or mixed arrays,
 * strings, booleans, small arrays) stays as it is, so the rebuilt value is JSON.parse's own.
 * Undefined when the value has a `__proto__` key, which a copy between threads might not
 * reproduce faithfully, or more than `maxValues` values left: such a body is parsed where it is
 * used.
 */
export function packNumericArrays(
  root: unknown,
  min: number,
  maxValues = MAX_COPIED_VALUES,
): PackedTree | undefined {
  const blocks: PackedTree['blocks'] = [];
  const path: JsonPath = [];
  let unsafe = false;
  let values = 0;
  const walk = (node: unknown): unknown => {
    if (++values > maxValues) unsafe = true;
    if (typeof node !== 'object' || node === null) return node;
    if (Array.isArray(node)) {
      const block = tryPack(node, min);
      if (block) {
        blocks.push({ path: [...path], block });
        return null;
      }
      for (let i = 0; i < node.length && !unsafe; i++) {
        path.push(i);
        node[i] = walk(node[i]);
        path.pop();
      }
      return node;
    }
    const record = node as Record<string, unknown>;
    for (const key of Object.keys(record)) {
      if (key === '__proto__') unsafe = true;
      if (unsafe) break;
      path.push(key);
      record[key] = walk(record[key]);
      path.pop();
    }
    return node;
  };
  const value = walk(root);
  return unsafe ? undefined : { value, blocks };
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
