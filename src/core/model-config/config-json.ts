import type { Type } from 'protobufjs';
import {
  integerProblem,
  isFloatType,
  isIntegerType,
  jsonInteger,
  kindOf,
  type ScalarOrMessage,
} from './model-config-proto';

/** A field of a JSON configuration whose value does not fit its proto field. */
export class ConfigFieldError extends Error {
  constructor(
    readonly field: string,
    readonly reason: string,
  ) {
    super(`field '${field}': ${reason}`);
  }
}

const typeName = (value: unknown) =>
  value === null ? 'null' : Array.isArray(value) ? 'a list' : typeof value;

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * Checks a configuration in Triton's JSON form against the proto's descriptor, as protobuf's
 * JSON parser would: every value of the type its field declares, enums by name (or number).
 * Returns it with 64-bit integers written as strings (how Triton itself prints them, so a config
 * copied from Triton's endpoint reads back) turned into numbers, enum numbers into names, and
 * the fields the proto does not know left out and listed in `unknown`.
 */
export function normalizeConfigJson(
  json: Record<string, unknown>,
  type: Type,
): { message: Record<string, unknown>; unknown: string[] } {
  const unknown: string[] = [];
  const message = normalizeMessage(json, type, '', unknown);
  return { message, unknown };
}

function normalizeMessage(
  json: Record<string, unknown>,
  type: Type,
  path: string,
  unknown: string[],
): Record<string, unknown> {
  const message: Record<string, unknown> = {};
  const oneofs = new Map<string, string>();
  for (const [name, value] of Object.entries(json)) {
    const fieldPath = path ? `${path}.${name}` : name;
    // A Map lookup, not `in`: a field named "constructor" must not find Object's.
    const field = Object.hasOwn(type.fields, name) ? type.fields[name] : undefined;
    if (!field) {
      unknown.push(fieldPath);
      continue;
    }
    // null is "not set" in protobuf's JSON mapping.
    if (value === null) continue;
    const oneof = field.partOf?.name;
    if (oneof !== undefined) {
      const chosen = oneofs.get(oneof);
      if (chosen !== undefined)
        throw new ConfigFieldError(
          fieldPath,
          `'${name}' and '${chosen}' are both given; '${oneof}' takes one of them`,
        );
      oneofs.set(oneof, name);
    }
    const kind = kindOf(field);
    if (kind.kind === 'map') {
      if (!isObject(value))
        throw new ConfigFieldError(fieldPath, `expected an object (a map), got ${typeName(value)}`);
      message[name] = Object.fromEntries(
        Object.entries(value).map(([key, entry]) => [
          key,
          normalizeValue(entry, kind.value, `${fieldPath}[${JSON.stringify(key)}]`, unknown),
        ]),
      );
    } else if (field.repeated) {
      if (!Array.isArray(value))
        throw new ConfigFieldError(fieldPath, `expected a list, got ${typeName(value)}`);
      message[name] = value.map((item, i) =>
        normalizeValue(item, kind, `${fieldPath}[${i}]`, unknown),
      );
    } else {
      message[name] = normalizeValue(value, kind, fieldPath, unknown);
    }
  }
  return message;
}

function normalizeValue(
  value: unknown,
  kind: ScalarOrMessage,
  path: string,
  unknown: string[],
): unknown {
  if (kind.kind === 'message') {
    if (!isObject(value))
      throw new ConfigFieldError(
        path,
        `expected an object (${kind.type.name}), got ${typeName(value)}`,
      );
    return normalizeMessage(value, kind.type, path, unknown);
  }
  if (kind.kind === 'enum') {
    if (typeof value === 'string' && Object.hasOwn(kind.type.values, value)) return value;
    if (typeof value === 'number' && kind.type.valuesById[value] !== undefined)
      return kind.type.valuesById[value];
    const names = Object.keys(kind.type.values);
    throw new ConfigFieldError(
      path,
      `${JSON.stringify(value)} is not a ${kind.type.name}; expected one of ${names.slice(0, 12).join(', ')}${names.length > 12 ? ', ...' : ''}`,
    );
  }
  const type = kind.type;
  if (type === 'string' || type === 'bytes') {
    if (typeof value !== 'string')
      throw new ConfigFieldError(path, `expected a string, got ${typeName(value)}`);
    return value;
  }
  if (type === 'bool') {
    if (typeof value !== 'boolean')
      throw new ConfigFieldError(path, `expected true or false, got ${typeName(value)}`);
    return value;
  }
  if (isIntegerType(type)) {
    const integer = typeof value === 'string' && /^-?\d+$/.test(value) ? BigInt(value) : value;
    if (typeof integer !== 'number' && typeof integer !== 'bigint')
      throw new ConfigFieldError(path, `expected an integer (${type}), got ${typeName(value)}`);
    const problem = integerProblem(integer, type);
    if (problem) throw new ConfigFieldError(path, problem);
    return typeof integer === 'bigint' ? jsonInteger(integer) : integer;
  }
  if (isFloatType(type)) {
    if (typeof value === 'number') return value;
    if (typeof value === 'string' && ['NaN', 'Infinity', '-Infinity'].includes(value)) return value;
    if (typeof value === 'string' && value.trim() !== '' && Number.isFinite(Number(value)))
      return Number(value);
    throw new ConfigFieldError(path, `expected a number (${type}), got ${typeName(value)}`);
  }
  throw new ConfigFieldError(path, `fields of type ${type} are not supported`);
}
