import type { Tensor, TypedData } from '../../tensor/tensor';

/**
 * Makes every tensor own a compact buffer and returns those buffers for postMessage's transfer
 * list: moved between threads without a copy. A view into a larger buffer (a Node Buffer from
 * the pool, a slice of a body) is copied first: transferring it would detach the whole buffer,
 * and cloning it would copy all of it.
 */
export function transferList(tensors: Tensor[]): ArrayBuffer[] {
  const buffers = new Set<ArrayBuffer>();
  for (const tensor of tensors) {
    const { data } = tensor;
    const compact =
      data.byteOffset === 0 &&
      data.byteLength === data.buffer.byteLength &&
      data.buffer instanceof ArrayBuffer &&
      !buffers.has(data.buffer);
    if (!compact) tensor.data = data.slice() as TypedData;
    buffers.add(tensor.data.buffer as ArrayBuffer);
  }
  return [...buffers];
}
