import { owned } from '../../tensor/storage';
import { isStringTensor } from '../../tensor/strings';
import { elementCount, Tensor, TypedData } from '../../tensor/tensor';

/** Tensors with the same inner shape and dtype stacked along their first dimension (one copy). */
export function concatRows(parts: Tensor[]): Tensor {
  const [first] = parts;
  const rows = parts.reduce((n, t) => n + t.shape[0], 0);
  const shape = [rows, ...first.shape.slice(1)];
  if (isStringTensor(first)) return concatStrings(parts, shape);
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

/** String tensors stacked: their bytes one after another, each part's offsets moved along. */
function concatStrings(parts: Tensor[], shape: number[]): Tensor {
  const offsets = owned(new Uint32Array(elementCount(shape) + 1));
  const data = owned(new Uint8Array(parts.reduce((n, t) => n + t.data.length, 0)));
  let element = 0;
  let byte = 0;
  for (const part of parts) {
    const own = part.offsets!;
    for (let i = 1; i < own.length; i++) offsets[element + i] = byte + own[i] - own[0];
    data.set(part.data as Uint8Array, byte);
    element += own.length - 1;
    byte += part.data.length;
  }
  return { ...parts[0], shape, data, offsets };
}

/** `rows` rows of a tensor from row `start`: a view of its data, not a copy. */
export function sliceRows(tensor: Tensor, start: number, rows: number): Tensor {
  const size = elementCount(tensor.shape.slice(1));
  const shape = [rows, ...tensor.shape.slice(1)];
  if (isStringTensor(tensor)) {
    // Offsets keep their values (element i starts at offsets[i] - offsets[0]): a view too.
    const offsets = tensor.offsets!.subarray(start * size, (start + rows) * size + 1);
    const base = tensor.offsets![0];
    const data = tensor.data.subarray(offsets[0] - base, offsets[offsets.length - 1] - base);
    return { ...tensor, shape, data: data as TypedData, offsets };
  }
  return {
    ...tensor,
    shape,
    data: tensor.data.subarray(start * size, (start + rows) * size) as TypedData,
  };
}
