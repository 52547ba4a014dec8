import { packedOf } from '../tensor/packed-array';
import { checkInputNames, encodeTensor, indexSuffix, isPlainObject } from '../tensor/packing';
import type { TensorSpec } from '../tensor/signature';
import { isB64Value, STRING_DTYPE } from '../tensor/strings';
import type { EncodedTensor } from '../tensor/tensor';

/**
 * TF Serving's two JSON request formats: which value feeds which input, and how a position in
 * the body is named in a 400. In the core because the row format ("instances") is also what
 * ModelService.predict takes, whatever the protocol. The values are packed by
 * tensor/packing, as for every protocol.
 */

/** {"b64": ...} for a string input is a value (TF Serving's binary string), not input names. */
const isStringValue = (spec: TensorSpec, value: unknown) =>
  spec.dtype === STRING_DTYPE && isB64Value(value);

/**
 * Encodes the row ("instances") format: one entry per example, without the batch dimension.
 * A single-input model takes the bare value (or an object keyed by its input name); a
 * multi-input model takes an object keyed by input name.
 */
export function encodeInstances(inputs: TensorSpec[], instances: unknown[]): EncodedTensor[] {
  // A packed batch holds numbers only (and reading its first row would unpack it).
  const named =
    inputs.length > 1 ||
    (!packedOf(instances) &&
      isPlainObject(instances[0]) &&
      !isStringValue(inputs[0], instances[0]));
  if (!named) {
    return [encodeTensor(inputs[0], instances, (idx) => `instances${indexSuffix(idx)}`)];
  }
  const names = inputs.map((spec) => spec.name);
  instances.forEach((instance, i) => checkInputNames(instance, names, `instances[${i}]`));
  return inputs.map((spec) =>
    encodeTensor(
      spec,
      instances.map((instance) => (instance as Record<string, unknown>)[spec.name]),
      ([row, ...rest]) =>
        row === undefined
          ? `instances[*].${spec.name}`
          : `instances[${row}].${spec.name}${indexSuffix(rest)}`,
    ),
  );
}

/**
 * Encodes the columnar format (TF Serving's "inputs"): each input's whole batched value, keyed
 * by input name, or bare for a single-input model. Inputs need not share their 0-th dimension.
 */
export function encodeColumns(inputs: TensorSpec[], value: unknown): EncodedTensor[] {
  const named = inputs.length > 1 || (isPlainObject(value) && !isStringValue(inputs[0], value));
  if (!named) {
    return [encodeTensor(inputs[0], value, (idx) => `inputs${indexSuffix(idx)}`)];
  }
  checkInputNames(
    value,
    inputs.map((spec) => spec.name),
    'inputs',
  );
  return inputs.map((spec) =>
    encodeTensor(
      spec,
      (value as Record<string, unknown>)[spec.name],
      (idx) => `inputs.${spec.name}${indexSuffix(idx)}`,
    ),
  );
}
