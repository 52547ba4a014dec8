import { owned } from '../../tensor/storage';
import { elementCount, Tensor, TypedData } from '../../tensor/tensor';

/** Tensors with the same inner shape and dtype stacked along their first dimension (one copy). */
export function concatRows(parts: Tensor[]): Tensor {
  const [first] = parts;
  const rows = parts.reduce((n, t) => n + t.shape[0], 0);
  const shape = [rows, ...first.shape.slice(1)];
  const Ctor = first.data.constructor as new (size: number) => TypedData;
  // Allocated here for this batch alone, so it moves to the thread without another copy.
  const data = owned(new Ctor(elementCount(shape)));
  let offset = 0;
  for (const part of parts) {
    (data as Float32Array).set(part.data as Float32Array, offset);
    offset += part.data.length;
  }
  return { ...first, shape, data };
}

/** `rows` rows of a tensor from row `start`: a view of its data, not a copy. */
export function sliceRows(tensor: Tensor, start: number, rows: number): Tensor {
  const size = elementCount(tensor.shape.slice(1));
  return {
    ...tensor,
    shape: [rows, ...tensor.shape.slice(1)],
    data: tensor.data.subarray(start * size, (start + rows) * size) as TypedData,
  };
}
