import { clip } from '../../errors/client-text';
import { ServingError } from '../../errors/serving-error';
import { ServedModel } from '../../core/catalog/served-model';
import type { ModelService } from '../../core/model.service';
import { formatShape, FREE_DIM, TensorSpec } from '../../tensor/signature';
import { checkInputNames, encodeTensor } from '../../tensor/packing';
import type { EncodedTensor } from '../../tensor/tensor';
import { elementCount, Tensor, toNumbers } from '../../tensor/tensor';
import { SIGNATURE_NAME } from './tfserving.mapper';

/**
 * TF Serving's `:classify` and `:regress` (api_rest.md, "Classify and Regress API"): a list of
 * `tf.Example`-like objects, one per example, each a map of feature name to a value or a flat
 * list, plus an optional `context` shared by all. Here a feature is a model input: its values
 * fill the input's per-example shape row-major, as a `tf.Example` feature parsed with a fixed
 * shape does. TF.js models have no classification or regression signatures, so the server
 * derives both from the metadata that makes them meaningful:
 * - classify needs `labels` in metadata.json (one per entry of the single [-1,n] output);
 * - regress needs a single numeric output holding one value per example ([-1] or [-1,1]).
 * Anything else is a 400 that says what is missing.
 */

export type ExamplesVerb = 'classify' | 'regress';

export interface ExamplesBody {
  signature_name?: unknown;
  context?: unknown;
  examples?: unknown;
}

/** `{"results": [[["label", score], ...], ...]}`: TF Serving's classify answer. */
export interface ClassifyResponse {
  results: [string, number][][];
}

/** `{"results": [value, ...]}`: TF Serving's regress answer, one value per example. */
export interface RegressResponse {
  results: number[];
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

const outputsOf = (model: ServedModel) =>
  model.signature.outputs.map((o) => `'${o.name}' ${formatShape(o.shape)}`).join(', ');

/** Throws the 400 that says why this model cannot answer this verb; nothing is run. */
export function checkExamplesVerb(model: ServedModel, verb: ExamplesVerb): void {
  const { outputs } = model.signature;
  if (verb === 'classify') {
    // Labels imply a single [-1,n] output: ServedModel checks that at load.
    if (!model.labels) {
      throw ServingError.invalid(
        `Model '${model.name}' cannot classify: its metadata.json has no "labels" (one class name per entry of a single [-1,n] output; its outputs are ${outputsOf(model)}). Use :predict for raw outputs`,
      );
    }
    return;
  }
  const [output] = outputs;
  const perExample = output?.shape.slice(1) ?? [];
  const oneValue = perExample.length === 0 || (perExample.length === 1 && perExample[0] === 1);
  if (outputs.length !== 1 || !oneValue || output.dtype === 'bool' || output.dtype === 'string') {
    throw ServingError.invalid(
      `Model '${model.name}' cannot regress: regress needs a single numeric output of one value per example ([-1] or [-1,1]), but its outputs are ${outputsOf(model)}. Use :predict for raw outputs`,
    );
  }
}

/** TF Serving's default signature, or the method name its own regress example sends. */
function checkSignature(model: ServedModel, verb: ExamplesVerb, signature: unknown): void {
  const accepted = ['', SIGNATURE_NAME, `tensorflow/serving/${verb}`];
  if (signature === undefined || accepted.includes(signature as string)) return;
  throw ServingError.invalid(
    `Serving signature name: ${clip(JSON.stringify(signature))} not found; model '${model.name}' answers ${verb} on "${SIGNATURE_NAME}" (or "tensorflow/serving/${verb}")`,
  );
}

/** A feature's values shaped like one example of the input: a bare value or a flat list is reshaped. */
function shapeFeature(spec: TensorSpec, value: unknown, where: string): unknown {
  const perExample = spec.shape.slice(1);
  // Already nested like the input (e.g. an image as [h][w][c]): the codec checks it as it is.
  if (Array.isArray(value) && value.some(Array.isArray)) return value;
  const flat = Array.isArray(value) ? value : [value];
  if (perExample.length === 0) {
    if (flat.length !== 1) {
      throw ServingError.invalid(
        `${where}: expected one value, got ${flat.length}; input '${spec.name}' expects shape ${formatShape(spec.shape)}`,
      );
    }
    return flat[0];
  }
  if (perExample.length === 1 && perExample[0] === FREE_DIM) return flat;
  if (perExample.includes(FREE_DIM)) {
    throw ServingError.invalid(
      `${where}: a flat list cannot fill input '${spec.name}' of shape ${formatShape(spec.shape)} (more than one dimension, one of them free); send it nested`,
    );
  }
  const size = elementCount(perExample);
  if (flat.length !== size) {
    throw ServingError.invalid(
      `${where}: expected ${size} values, got ${flat.length}; input '${spec.name}' expects shape ${formatShape(spec.shape)}`,
    );
  }
  const build = (depth: number, offset: number): unknown[] => {
    const stride = elementCount(perExample.slice(depth + 1));
    return Array.from({ length: perExample[depth] }, (_, i) =>
      depth === perExample.length - 1 ? flat[offset + i] : build(depth + 1, offset + i * stride),
    );
  };
  return build(0, 0);
}

/**
 * `context` holds at most the model's inputs: its keys are compared with every example's, so
 * 400,000 of them would cost seconds before the first unknown one is named.
 */
function checkContext(context: Record<string, unknown>, names: string[]): void {
  for (const key in context) {
    if (!names.includes(key)) {
      throw ServingError.invalid(
        `"context": unknown feature '${clip(key)}'; features are the model's inputs (${names.join(', ')})`,
      );
    }
  }
}

/** Reads `examples` (+ `context`) into one tensor per model input; the codec checks the values. */
export function encodeExamples(
  model: ServedModel,
  verb: ExamplesVerb,
  body: ExamplesBody,
): EncodedTensor[] {
  checkSignature(model, verb, body.signature_name);
  const { examples, context = {} } = body;
  if (!Array.isArray(examples) || examples.length === 0) {
    throw ServingError.invalid(
      `"examples" must be a non-empty list of objects, one per example, keyed by feature (input) name, e.g. {"examples": [{"${model.signature.inputs[0].name}": ...}]}`,
    );
  }
  if (!isObject(context)) {
    throw ServingError.invalid('"context" must be an object of features shared by every example');
  }
  const names = model.signature.inputs.map((spec) => spec.name);
  checkContext(context, names);
  const rows = examples.map((example, i) => {
    if (!isObject(example)) {
      throw ServingError.invalid(
        `examples[${i}]: expected an object keyed by feature (input) name (${names.join(', ')})`,
      );
    }
    const shared = Object.keys(context).filter((key) => Object.hasOwn(example, key));
    if (shared.length > 0) {
      throw ServingError.invalid(
        `examples[${i}]: feature(s) ${shared.join(', ')} also in "context"; a feature is either shared or per example`,
      );
    }
    const merged = { ...context, ...example };
    checkInputNames(merged, names, `examples[${i}]`);
    return merged;
  });
  return model.signature.inputs.map((spec) => {
    const batch = rows.map((row, i) =>
      shapeFeature(spec, row[spec.name], `examples[${i}].${spec.name}`),
    );
    return encodeTensor(spec, batch, ([row, ...rest]) =>
      row === undefined
        ? `examples[*].${spec.name}`
        : `examples[${row}].${spec.name}${rest.map((i) => `[${i}]`).join('')}`,
    );
  });
}

/** Every label with its score, in the model's class order, per example. */
export function toClassifyResponse(model: ServedModel, output: Tensor): ClassifyResponse {
  const labels = model.labels ?? [];
  const scores = toNumbers(output);
  const classes = labels.length;
  return {
    results: Array.from({ length: output.shape[0] }, (_, row) =>
      labels.map((label, i): [string, number] => [label, scores[row * classes + i]]),
    ),
  };
}

/** The one value of each example. */
export function toRegressResponse(output: Tensor): RegressResponse {
  return { results: toNumbers(output) };
}

/**
 * Classify or regress with one model version, as REST's :classify and :regress and gRPC's
 * Classify and Regress all do: check the model can answer, read the examples, run, shape the
 * answer.
 */
export async function runExamples(
  models: ModelService,
  model: ServedModel,
  verb: ExamplesVerb,
  body: ExamplesBody,
): Promise<ClassifyResponse | RegressResponse> {
  checkExamplesVerb(model, verb);
  // Before any example is read: 300,000 of them cost a second to check and pack for a 413.
  if (Array.isArray(body.examples)) models.checkBatchSize(body.examples.length);
  const tensors = encodeExamples(model, verb, body);
  const outputs = await models.infer(model, tensors);
  const output = outputs[model.signature.outputs[0].name];
  return verb === 'classify' ? toClassifyResponse(model, output) : toRegressResponse(output);
}
