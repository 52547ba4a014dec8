import { join } from 'node:path';
import { Enum, MapField, Root, Type, type Field } from 'protobufjs';

/** Triton's model_config.proto, vendored verbatim (protos/triton; see its README). */
const MODEL_CONFIG_PROTO = join(
  __dirname,
  '..',
  '..',
  '..',
  'protos',
  'triton',
  'model_config.proto',
);

let modelConfigType: Type | undefined;

/** The descriptor of `inference.ModelConfig`, with the proto's own (snake_case) field names. */
export function modelConfigDescriptor(): Type {
  if (!modelConfigType) {
    const root = new Root().loadSync(MODEL_CONFIG_PROTO, { keepCase: true });
    root.resolveAll();
    modelConfigType = root.lookupType('inference.ModelConfig');
  }
  return modelConfigType;
}

/** How a field's values are read, whichever the syntax (text format or JSON). */
export type FieldKind =
  | { kind: 'message'; type: Type }
  | { kind: 'map'; key: string; value: ScalarOrMessage }
  | ScalarOrMessage;

export type ScalarOrMessage =
  { kind: 'message'; type: Type } | { kind: 'enum'; type: Enum } | { kind: 'scalar'; type: string };

function valueKind(field: Field): ScalarOrMessage {
  const resolved = field.resolvedType;
  if (resolved instanceof Type) return { kind: 'message', type: resolved };
  if (resolved instanceof Enum) return { kind: 'enum', type: resolved };
  return { kind: 'scalar', type: field.type };
}

export function kindOf(field: Field): FieldKind {
  if (field instanceof MapField)
    return { kind: 'map', key: field.keyType, value: valueKind(field) };
  return valueKind(field);
}

const INT32 = new Set(['int32', 'sint32', 'sfixed32']);
const UINT32 = new Set(['uint32', 'fixed32']);
const INT64 = new Set(['int64', 'sint64', 'sfixed64']);
const UINT64 = new Set(['uint64', 'fixed64']);

/**
 * Checks an integer against its field's type: 32-bit ranges exactly; 64-bit ones as far as a
 * JSON number holds them exactly, since the JSON form carries int64 as numbers. Returns why not.
 */
export function integerProblem(value: number, type: string): string | undefined {
  if (!Number.isInteger(value)) return `expected an integer (${type}), got ${value}`;
  const unsigned = UINT32.has(type) || UINT64.has(type);
  if (unsigned && value < 0) return `expected a non-negative integer (${type}), got ${value}`;
  if (INT32.has(type) && (value < -(2 ** 31) || value > 2 ** 31 - 1))
    return `${value} is out of range for ${type}`;
  if (UINT32.has(type) && value > 2 ** 32 - 1) return `${value} is out of range for ${type}`;
  if ((INT64.has(type) || UINT64.has(type)) && !Number.isSafeInteger(value))
    return `${value} is beyond what this server holds exactly for ${type} (±2^53)`;
  return undefined;
}

export const isIntegerType = (type: string) =>
  INT32.has(type) || UINT32.has(type) || INT64.has(type) || UINT64.has(type);
export const isFloatType = (type: string) => type === 'float' || type === 'double';
