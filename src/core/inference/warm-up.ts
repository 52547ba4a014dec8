import type { EngineModel } from '../../engines/engine';
import type { InputDtype } from '../../tensor/dtypes';
import { FREE_DIM, TensorSpec } from '../../tensor/signature';
import { elementCount, Tensor } from '../../tensor/tensor';
import { allocate } from '../../tensor/storage';
import { packStrings, STRING_DTYPE } from '../../tensor/strings';
import { isFatal } from './run-failure';

const ZERO = Buffer.from('0');

/** Zeros shaped like the signature with `batch` rows (a fixed batch dimension stays as it is). */
function zeroInputs(inputs: TensorSpec[], batch: number): Tensor[] {
  return inputs.map((spec) => {
    const shape = spec.shape.map((d, i) => (d !== FREE_DIM ? d : i === 0 ? batch : 1));
    const count = elementCount(shape);
    // "0", not "": a string model's first op is often a Cast to a number, which "" fails.
    if (spec.dtype === STRING_DTYPE) return packStrings(spec.name, shape, Array(count).fill(ZERO));
    const dtype = spec.dtype as InputDtype;
    return { name: spec.name, dtype, shape, data: allocate(dtype, count) };
  });
}

const followsBatch = (outputs: Tensor[], batch: number) =>
  outputs.every((t) => t.shape.length > 0 && t.shape[0] === batch);

/**
 * Runs the model once on zeros (compiles kernels, reveals output shapes the model does not
 * declare) and decides whether requests may be merged into one batch: only when every input has
 * a free first dimension and every output's first dimension follows it, checked with two batch
 * sizes. Detection graphs with per-image outputs, recurrent state `[2, batch, 64]` and scalar
 * inputs fail that check and run request by request, so merging never changes an answer.
 */
export async function warmUp(model: EngineModel): Promise<{ batchMajor: boolean }> {
  const { inputs, outputs } = model.signature;
  let once: Tensor[];
  try {
    once = await model.run(zeroInputs(inputs, 1));
  } catch (error) {
    // Zeros with free inner dimensions set to 1 are a guess, not an input every model accepts
    // (Silero VAD needs 256+ samples). Such a model still serves, request by request; with every
    // inner dimension known, the failure is the model's own and fails the load.
    if (isFatal(error) || !inputs.some((spec) => spec.shape.slice(1).includes(FREE_DIM))) {
      throw error;
    }
    return { batchMajor: false };
  }
  outputs.forEach((spec, i) => {
    const seen = once[i]?.shape;
    if (spec.shape.length === 0 && seen && seen.length > 0) {
      spec.shape = seen.map((d, axis) => (axis === 0 ? FREE_DIM : d));
    }
  });
  const freeBatch = inputs.length > 0 && inputs.every((spec) => spec.shape[0] === FREE_DIM);
  if (!freeBatch || !followsBatch(once, 1)) return { batchMajor: false };
  try {
    return { batchMajor: followsBatch(await model.run(zeroInputs(inputs, 2)), 2) };
  } catch (error) {
    // A trap leaves the runtime unknown, whatever the model: the thread must not go on.
    if (isFatal(error)) throw error;
    return { batchMajor: false };
  }
}
