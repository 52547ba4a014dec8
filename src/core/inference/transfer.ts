import { ownedBuffer } from '../../tensor/storage';
import type { Tensor, TypedData } from '../../tensor/tensor';

/** The buffer behind `data` when it holds nothing else: an inference thread's own outputs. */
export function wholeBuffer(data: ArrayBufferView): ArrayBuffer | undefined {
  const { buffer } = data;
  const whole = data.byteOffset === 0 && data.byteLength === buffer.byteLength;
  return whole && buffer instanceof ArrayBuffer ? buffer : undefined;
}

/**
 * Makes every tensor own a compact buffer and returns those buffers for postMessage's transfer
 * list: moved between threads without a copy. Only a buffer `giveable` vouches for is moved; any
 * other is copied first, once: a view into a larger buffer (a slice of a request body, a Node
 * Buffer from the shared pool) would detach the whole buffer, and a buffer the HTTP layer still
 * holds is not ours to take. On the main thread only what tensor/storage allocated qualifies.
 */
export function transferList(
  tensors: Tensor[],
  giveable: (data: ArrayBufferView) => ArrayBuffer | undefined = ownedBuffer,
): ArrayBuffer[] {
  const buffers = new Set<ArrayBuffer>();
  const compact = <T extends ArrayBufferView & { slice(): T }>(data: T): T => {
    const buffer = giveable(data);
    const own = !buffer || buffers.has(buffer) ? data.slice() : data;
    buffers.add(own.buffer as ArrayBuffer);
    return own;
  };
  for (const tensor of tensors) {
    tensor.data = compact(tensor.data as Uint8Array) as TypedData;
    // A string tensor's offsets travel beside its bytes (a slice's offsets need not start at 0).
    if (tensor.offsets) tensor.offsets = compact(tensor.offsets);
  }
  return [...buffers];
}
