import { nanosSince, type EngineModel, type RunTiming } from '../../engines/engine';
import { formatShape, ModelSignature } from '../../tensor/signature';
import type { Tensor } from '../../tensor/tensor';
import { ServingError } from '../../errors/serving-error';
import { concatRows, sliceRows } from './tensor-rows';

/**
 * The one fixed-batch policy, the same for every engine. A model whose first input starts with a
 * number (MoveNet's [1,192,192,3], a PyTorch export without dynamic_axes: [1,4]) takes any
 * positive multiple of that many rows. Admission on the main thread refuses anything else with
 * `rowsProblem`; the inference thread runs the rows in chunks of that size with `runFixedBatch`,
 * so an engine only ever sees the batch its model declares.
 */

/** The batch size a model fixes: its first input's first dimension, when that is a number. */
export function fixedBatchOf(signature: ModelSignature): number | undefined {
  const first = signature.inputs[0]?.shape[0];
  return first > 0 ? first : undefined;
}

interface Shaped {
  name: string;
  shape: readonly number[];
}

/**
 * Why a request's inputs cannot run, or undefined when they can: a fixed batch takes positive
 * multiples of itself, and a chunked run (or a model that pairs its inputs row by row, `paired`)
 * needs every input to have the same rows. `model` names it for the client ("model 'pose'").
 */
export function rowsProblem(
  model: string,
  fixedBatch: number | undefined,
  inputs: Shaped[],
  paired = false,
): string | undefined {
  const batch = inputs[0]?.shape[0];
  if (batch === undefined) return undefined;
  const chunk = fixedBatch ?? batch;
  if (batch % chunk !== 0 || (fixedBatch !== undefined && batch === 0)) {
    const multiple = batch === 0 ? 'a positive multiple' : 'a multiple';
    return `${model} has a fixed batch size of ${chunk}; send ${multiple} of ${chunk} instances (got ${batch})`;
  }
  const rows = inputs.map((input) => input.shape[0]);
  if ((paired || chunk !== batch) && rows.some((n) => n !== batch)) {
    return `${model} pairs its inputs row by row; every input needs the same 0-th dimension, got ${inputs.map((input, i) => `${input.name}: ${rows[i]}`).join(', ')}`;
  }
  return undefined;
}

/**
 * Runs a request on a model, in chunks of its fixed batch when it has one and the request holds
 * more rows, then joins the chunks' outputs row by row. Each chunk's inputs are views of the
 * request's, not copies. Outputs that do not start with the fixed batch cannot be joined without
 * guessing: such a request is refused, never answered with rows of the wrong chunk.
 */
export async function runFixedBatch(
  model: Pick<EngineModel, 'run' | 'signature'>,
  inputs: Tensor[],
  label: string,
  timing?: RunTiming,
): Promise<Tensor[]> {
  const fixed = fixedBatchOf(model.signature);
  const rows = inputs[0]?.shape[0];
  if (fixed === undefined || rows === undefined || rows === fixed) {
    return model.run(inputs, timing);
  }
  const problem = rowsProblem(label, fixed, inputs);
  if (problem) throw ServingError.invalid(problem);
  const chunks: Tensor[][] = [];
  for (let start = 0; start < rows; start += fixed) {
    chunks.push(
      await model.run(
        inputs.map((input) => sliceRows(input, start, fixed)),
        timing,
      ),
    );
  }
  const joining = process.hrtime.bigint();
  const joined = chunks[0].map((first, i) => {
    const parts = chunks.map((outputs) => outputs[i]);
    const inner = formatShape(first.shape.slice(1));
    const odd = parts.find(
      (part) => part.shape[0] !== fixed || formatShape(part.shape.slice(1)) !== inner,
    );
    if (odd) {
      throw ServingError.invalid(
        `${label} has a fixed batch size of ${fixed}, but its output '${first.name}' is ${formatShape(odd.shape)} for ${fixed} row(s), so the chunks of ${rows} instances cannot be joined; send ${fixed} instance(s) per request`,
      );
    }
    return concatRows(parts);
  });
  // Joining the chunks' outputs is part of reading the outputs back.
  if (timing) timing.outputNs += nanosSince(joining);
  return joined;
}
