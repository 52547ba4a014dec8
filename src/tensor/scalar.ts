import { ServingError } from '../errors/serving-error';
import { DTYPES, InputDtype } from './dtypes';

/** Names a value for an error message without repeating a large one. */
export function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return `an array of ${value.length}`;
  if (typeof value === 'object') return 'an object';
  if (typeof value === 'string') return `the string ${JSON.stringify(value.slice(0, 20))}`;
  return String(value);
}

/**
 * What a JSON number may be for an input of each dtype: its kind and range. int64 stops at
 * 2^53 - 1: past it a JSON number is no longer exact.
 */
const LIMITS = new Map(
  DTYPES.filter((row) => row.fed).map(({ dtype, kind, range: [min, max] }) => [
    dtype,
    kind === 'float'
      ? { integral: false, min, max }
      : {
          integral: true,
          min: Math.max(min, -Number.MAX_SAFE_INTEGER),
          max: Math.min(max, Number.MAX_SAFE_INTEGER),
        },
  ]),
);

function checkInteger(value: number, dtype: InputDtype, where: () => string): void {
  const { min, max } = LIMITS.get(dtype)!;
  if (Number.isInteger(value) && value >= min && value <= max) return;
  if (dtype === 'int64' && Number.isInteger(value)) {
    // JSON.parse has already rounded such a number to the nearest double: refuse, never guess.
    throw ServingError.invalid(
      `${where()}: ${value} is outside the range a JSON number holds exactly for int64 ` +
        `(±${max}, 2^53 - 1); larger int64 values need the binary V2 tensor data`,
    );
  }
  throw ServingError.invalid(
    `${where()}: expected an integer in ${dtype} range [${min}, ${max}], got ${value}`,
  );
}

/** Checks one scalar against the input's dtype and returns its numeric value. */
export function checkScalar(value: unknown, dtype: InputDtype, where: () => string): number {
  if (dtype === 'bool') {
    if (typeof value === 'boolean') return value ? 1 : 0;
    if (value === 0 || value === 1) return value;
    throw ServingError.invalid(`${where()}: expected a boolean, got ${describeValue(value)}`);
  }
  if (typeof value !== 'number') {
    throw ServingError.invalid(
      `${where()}: expected a number (${dtype}), got ${describeValue(value)}`,
    );
  }
  if (!Number.isFinite(value)) {
    throw ServingError.invalid(`${where()}: expected a finite number, got ${value}`);
  }
  const limits = LIMITS.get(dtype)!;
  if (limits.integral) {
    checkInteger(value, dtype, where);
  } else if (Math.abs(value) > limits.max) {
    throw ServingError.invalid(
      `${where()}: ${value} is outside the ${dtype} range (±${limits.max})`,
    );
  }
  return value;
}
