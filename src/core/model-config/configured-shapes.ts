import { ServingError } from '../../errors/serving-error';
import { FREE_DIM, formatShape, type ModelSignature } from '../../tensor/signature';
import { elementCount, type EncodedTensor, type TensorMap } from '../../tensor/tensor';
import type { ConfiguredShapes, Reshape } from './effective-config';

/** A model as these rules see it: its name, the signature clients see and its configured shapes. */
interface Shaped {
  name: string;
  signature: ModelSignature;
  shapes?: ConfiguredShapes;
}

const agrees = (shape: readonly number[], expected: readonly number[]) =>
  shape.length === expected.length &&
  shape.every((dim, i) => expected[i] === FREE_DIM || dim === expected[i]);

/**
 * `target` with its batch dimension taken from `shape` and its one free dimension (if any) sized
 * to hold the same elements; undefined when it cannot hold them.
 */
function resolve(
  shape: readonly number[],
  target: readonly number[],
  batched: boolean,
): number[] | undefined {
  const sized = target.map((dim, i) => (i === 0 && batched ? shape[0] : dim));
  const count = elementCount(shape);
  const known = sized.filter((dim) => dim !== FREE_DIM).reduce((a, b) => a * b, 1);
  const free = sized.indexOf(FREE_DIM);
  if (free >= 0) {
    if (known === 0 || count % known !== 0) return undefined;
    sized[free] = count / known;
  }
  return elementCount(sized) === count ? sized : undefined;
}

/**
 * Checks a request's inputs against what a user's configuration asks beyond the signature the
 * edge already checked (the full shape when max_batch_size is 0, at most max_batch_size rows),
 * then gives each input the shape the model takes (`reshape`). Views of the same data: no copy.
 */
export function toModelInputs(model: Shaped, inputs: EncodedTensor[]): EncodedTensor[] {
  const { shapes } = model;
  if (!shapes) return inputs;
  const rows = inputs[0]?.shape[0];
  if (shapes.maxRows !== undefined && rows !== undefined && rows > shapes.maxRows) {
    throw ServingError.invalid(
      `inference request batch-size must be <= ${shapes.maxRows} for '${model.name}' (max_batch_size in ${shapes.file}); got ${rows} rows`,
    );
  }
  return inputs.map((input) => {
    const spec = model.signature.inputs.find((s) => s.name === input.name);
    if (spec && shapes.fullShapes && !agrees(input.shape, spec.shape)) {
      throw ServingError.invalid(
        `input '${input.name}' of model '${model.name}' is ${formatShape(input.shape)}; it takes ${formatShape(spec.shape)} (max_batch_size 0 in ${shapes.file}: dims are the full shape)`,
      );
    }
    const reshape = shapes.inputs.get(input.name);
    if (!reshape) return input;
    const shape = resolve(input.shape, reshape.model, !shapes.fullShapes);
    if (!shape) {
      throw ServingError.invalid(
        `input '${input.name}' of model '${model.name}' is ${formatShape(input.shape)}, which cannot be reshaped to ${formatShape(reshape.model)} (reshape in ${shapes.file}): the element counts differ`,
      );
    }
    return { ...input, shape };
  });
}

/**
 * Gives each output the shape clients see (the config's dims where it has a `reshape`), after
 * checking the model gave what its configuration says: a model whose output disagrees with its
 * config fails the request rather than answering a shape its metadata does not announce.
 */
export function toClientOutputs(model: Shaped, outputs: TensorMap): TensorMap {
  const { shapes } = model;
  if (!shapes) return outputs;
  const result: TensorMap = {};
  for (const [name, output] of Object.entries(outputs)) {
    const reshape: Reshape | undefined = shapes.outputs.get(name);
    const spec = model.signature.outputs.find((s) => s.name === name);
    const expected = reshape?.model ?? spec?.shape;
    const shape = reshape
      ? resolve(output.shape, reshape.client, !shapes.fullShapes)
      : output.shape;
    if ((expected && !agrees(output.shape, expected)) || !shape) {
      throw ServingError.internal(
        `model '${model.name}' gave output '${name}' of shape ${formatShape(output.shape)}, where ${shapes.file} says ${formatShape(expected ?? [])}`,
      );
    }
    result[name] = shape === output.shape ? output : { ...output, shape };
  }
  return result;
}
