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

export function formatShape(shape: readonly number[]): string {
  return `[${shape.join(',')}]`;
}
