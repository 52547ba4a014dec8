/** Element types the server accepts for model inputs (TF.js has no 64-bit or 16-bit tensors). */
export type InputDtype = 'float32' | 'int32' | 'bool';

/** One named input or output of a model, as read from the model itself. -1 marks a free dimension. */
export interface TensorSpec {
  name: string;
  dtype: string;
  shape: number[];
}

export interface ModelSignature {
  inputs: TensorSpec[];
  outputs: TensorSpec[];
}

export const FREE_DIM = -1;

/** TensorFlow's DataType name of each TF.js dtype, as model.json signatures and TF Serving use them. */
export const TF_DATA_TYPES: Record<string, string> = {
  float32: 'DT_FLOAT',
  int32: 'DT_INT32',
  bool: 'DT_BOOL',
  string: 'DT_STRING',
  complex64: 'DT_COMPLEX64',
};

export function formatShape(shape: readonly number[]): string {
  return `[${shape.join(',')}]`;
}
