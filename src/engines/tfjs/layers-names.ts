import type { ModelSignature } from '../../tensor/signature';

/**
 * The input and output names of a TF.js layers model, read from its saved topology (model.json's
 * `modelTopology`) alone.
 *
 * Why not from the deserialised model: TF.js names layers and symbolic tensors through a
 * process-wide counter, so the same files load as `dense_Dense1_input_1` next to another model
 * and as `dense_Dense1_input_2` after a hot swap. A served model's API must be a function of its
 * files, so the names come from the topology, the way Keras itself names them:
 * - a functional model (`Model`, `Functional`): the layer names listed in `input_layers` and
 *   `output_layers`;
 * - a `Sequential`: its `InputLayer`'s name if it lists one (Keras 3, tf.keras 2.13+), otherwise
 *   `<first layer>_input` (the input Keras 2 and TF.js create from `batch_input_shape`); the
 *   output is the last layer's name.
 * Names are in the model's own input/output order, which is the order TF.js runs them in.
 */
export interface LayersTensorNames {
  inputs: string[];
  outputs: string[];
}

type Json = Record<string, unknown>;

const isObject = (value: unknown): value is Json =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

function layerName(layer: unknown): string | undefined {
  if (!isObject(layer)) return undefined;
  const config = isObject(layer.config) ? layer.config : {};
  const name = config.name ?? layer.name;
  return typeof name === 'string' && name !== '' ? name : undefined;
}

/** `[["x", 0, 0], ["y", 0, 0]]`, or Keras 3's bare `["x", 0, 0]` for a single tensor. */
function endpointNames(endpoints: unknown): string[] | undefined {
  if (!Array.isArray(endpoints) || endpoints.length === 0) return undefined;
  const list = typeof endpoints[0] === 'string' ? [endpoints] : endpoints;
  const names = list.map((entry) => {
    if (!Array.isArray(entry) || typeof entry[0] !== 'string') return undefined;
    const tensorIndex = Number(entry[2] ?? 0);
    // A layer with several outputs (rare) names its second tensor `<layer>_1`, as Keras does.
    return tensorIndex > 0 ? `${entry[0]}_${tensorIndex}` : entry[0];
  });
  return names.every((n): n is string => n !== undefined) ? names : undefined;
}

function sequentialNames(config: unknown): LayersTensorNames | undefined {
  // Keras 2.0 wrote a Sequential's config as the bare list of layers.
  const layers = Array.isArray(config) ? config : isObject(config) ? config.layers : undefined;
  if (!Array.isArray(layers) || layers.length === 0) return undefined;
  const first = layers[0] as Json;
  const firstName = layerName(first);
  if (firstName === undefined) return undefined;
  const explicitInput = first.class_name === 'InputLayer';
  const input = explicitInput ? firstName : `${firstName}_input`;
  const last = layers.length > 1 || !explicitInput ? layerName(layers.at(-1)) : input;
  return last === undefined ? undefined : { inputs: [input], outputs: [last] };
}

/**
 * Names from a layers model's `modelTopology`, or undefined when the topology is not one this
 * function understands (the caller then keeps the names it has).
 */
export function layersTensorNames(modelTopology: unknown): LayersTensorNames | undefined {
  if (!isObject(modelTopology)) return undefined;
  // tensorflowjs_converter's Keras output nests the model under `model_config`.
  const model = isObject(modelTopology.model_config) ? modelTopology.model_config : modelTopology;
  if (model.class_name === 'Sequential') return sequentialNames(model.config);
  if (!isObject(model.config)) return undefined;
  const inputs = endpointNames(model.config.input_layers);
  const outputs = endpointNames(model.config.output_layers);
  return inputs && outputs ? { inputs, outputs } : undefined;
}

const unique = (names: string[]) => new Set(names).size === names.length;

/**
 * The signature with its names replaced, position by position, by the topology's names. TF.js
 * runs a layers model by position (inputs in `model.inputs` order, outputs in `model.outputs`
 * order), so renaming keeps every tensor where it was. Left as it is when the topology cannot be
 * read or does not list as many unique names as the model has tensors.
 */
export function withTopologyNames(
  signature: ModelSignature,
  modelTopology: unknown,
): ModelSignature {
  const names = layersTensorNames(modelTopology);
  if (
    !names ||
    names.inputs.length !== signature.inputs.length ||
    names.outputs.length !== signature.outputs.length ||
    !unique(names.inputs) ||
    !unique(names.outputs)
  ) {
    return signature;
  }
  return {
    inputs: signature.inputs.map((spec, i) => ({ ...spec, name: names.inputs[i] })),
    outputs: signature.outputs.map((spec, i) => ({ ...spec, name: names.outputs[i] })),
  };
}
