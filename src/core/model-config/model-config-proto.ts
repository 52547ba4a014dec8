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

const RANGES: readonly [ReadonlySet<string>, bigint, bigint][] = [
  [INT32, -(2n ** 31n), 2n ** 31n - 1n],
  [UINT32, 0n, 2n ** 32n - 1n],
  [INT64, -(2n ** 63n), 2n ** 63n - 1n],
  [UINT64, 0n, 2n ** 64n - 1n],
];

/**
 * Checks an integer against its field's type, exactly: a bigint as read from text, or a JSON
 * number, which holds integers exactly only up to 2^53. Returns why not.
 */
export function integerProblem(value: number | bigint, type: string): string | undefined {
  if (typeof value === 'number' && !Number.isInteger(value))
    return `expected an integer (${type}), got ${value}`;
  if (typeof value === 'number' && !Number.isSafeInteger(value))
    return `${value} is beyond what a JSON number holds exactly (2^53); write it as a string`;
  const exact = BigInt(value);
  const range = RANGES.find(([types]) => types.has(type));
  if (!range) return undefined;
  const [, min, max] = range;
  if (min === 0n && exact < 0n) return `expected a non-negative integer (${type}), got ${value}`;
  if (exact < min || exact > max) return `${value} is out of range for ${type}`;
  return undefined;
}

/**
 * An integer as the JSON form carries it: a number while a double holds it exactly, beyond that
 * its decimal string, as protobuf's JSON mapping writes 64-bit integers (Triton's uint64
 * `max_priority_level` of 2^64-1, say).
 */
export const jsonInteger = (value: bigint): number | string =>
  Number.isSafeInteger(Number(value)) ? Number(value) : value.toString();

export const isIntegerType = (type: string) =>
  INT32.has(type) || UINT32.has(type) || INT64.has(type) || UINT64.has(type);
export const isFloatType = (type: string) => type === 'float' || type === 'double';
