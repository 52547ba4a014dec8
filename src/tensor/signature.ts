/**
 * Element types the server feeds to model inputs: TF.js models take float32, int32 and bool;
 * ONNX models also float64, float16, int8, int64 and uint8.
 */
export const INPUT_DTYPES = [
  'float32',
  'float64',
  'float16',
  'int8',
  'int32',
  'int64',
  'uint8',
  'bool',
] as const;
export type InputDtype = (typeof INPUT_DTYPES)[number];

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

/**
 * TensorFlow's DataType name of each dtype, as model.json signatures and TF Serving metadata use
 * them. The first five are TF.js's own dtypes; the rest come from ONNX models.
 */
export const TF_DATA_TYPES: Record<string, string> = {
  float32: 'DT_FLOAT',
  int32: 'DT_INT32',
  bool: 'DT_BOOL',
  string: 'DT_STRING',
  complex64: 'DT_COMPLEX64',
  float64: 'DT_DOUBLE',
  float16: 'DT_HALF',
  int8: 'DT_INT8',
  int64: 'DT_INT64',
  uint8: 'DT_UINT8',
};

export function formatShape(shape: readonly number[]): string {
  return `[${shape.join(',')}]`;
}
