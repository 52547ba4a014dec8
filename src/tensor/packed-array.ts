/**
 * A rectangular nested array of JSON numbers kept as one Float64Array (row-major) instead of a
 * tree of JS arrays. JSON bodies parsed off the main thread (src/common/json-parse-pool.ts)
 * arrive this way: the parse thread's tree is garbage there, and only the doubles cross over,
 * transferred. The main thread's heap then holds one buffer per tensor instead of thousands of
 * arrays and heap numbers that live as long as the request (and were most of its GC time).
 */
export interface PackedBlock {
  /** Dimensions, outermost first; every dimension at least 1. */
  shape: number[];
  /** The numbers, row-major (doubles: exactly what JSON.parse would give). */
  data: Float64Array;
}

const BLOCKS = new WeakMap<object, PackedBlock>();

/** The block behind an array made by packedArray, or undefined for any other value. */
export function packedOf(value: unknown): PackedBlock | undefined {
  return typeof value === 'object' && value !== null ? BLOCKS.get(value) : undefined;
}

/** Rebuilds the nested arrays of `block` (exactly the arrays JSON.parse would have built). */
export function unpackBlock(block: PackedBlock, offset = 0, depth = 0): unknown[] {
  const { shape, data } = block;
  const length = shape[depth];
  if (depth === shape.length - 1) return Array.from(data.subarray(offset, offset + length));
  const stride = shape.slice(depth + 1).reduce((a, b) => a * b, 1);
  return Array.from({ length }, (_, i) => unpackBlock(block, offset + i * stride, depth + 1));
}

/**
 * An array that behaves like the nested arrays of `block` for any code (Array.isArray, length,
 * indexing, iteration, JSON.stringify): its elements are built on the first access other than
 * `length`. Code that knows (the tensor codec, via packedOf) reads the Float64Array directly and
 * never builds them; code that does not still sees exactly what JSON.parse would have given.
 */
export function packedArray(block: PackedBlock): unknown[] {
  const target: unknown[] = new Array<unknown>(block.shape[0]);
  let built = false;
  const build = () => {
    if (built) return;
    built = true;
    unpackBlock(block).forEach((element, i) => (target[i] = element));
  };
  const handler: ProxyHandler<unknown[]> = {
    get: (t, key) => {
      if (key !== 'length') build();
      return Reflect.get(t, key);
    },
    has: (t, key) => (build(), Reflect.has(t, key)),
    ownKeys: (t) => (build(), Reflect.ownKeys(t)),
    getOwnPropertyDescriptor: (t, key) => (build(), Reflect.getOwnPropertyDescriptor(t, key)),
    // A write makes the block stale: from then on the array is only an array.
    set: (t, key, value) => (forget(), Reflect.set(t, key, value)),
    defineProperty: (t, key, descriptor) => (forget(), Reflect.defineProperty(t, key, descriptor)),
    deleteProperty: (t, key) => (forget(), Reflect.deleteProperty(t, key)),
  };
  const forget = () => {
    build();
    BLOCKS.delete(array);
  };
  const array = new Proxy(target, handler);
  BLOCKS.set(array, block);
  return array;
}
