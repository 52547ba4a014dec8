import { getMetadataStorage, ValidationError } from 'class-validator';

type ValidationMetadata = ReturnType<
  ReturnType<typeof getMetadataStorage>['getTargetValidationMetadatas']
>[number];

/** Rules whose failure on a non-number says nothing the type rule has not said already. */
const TYPE_RULES_WITH_BOUNDS = new Set(['isInt', 'isNumber']);

/**
 * The rules of one property in the order they are written: decorators are applied bottom-up,
 * so class-validator registers (and reports) them in reverse.
 */
function rulesOf(target: object, property: string): ValidationMetadata[] {
  return getMetadataStorage()
    .getTargetValidationMetadatas(target.constructor, '', true, false)
    .filter((rule) => rule.propertyName === property)
    .reverse();
}

function bounds(rules: ValidationMetadata[]): string {
  const bound = (name: string) =>
    rules.find((rule) => rule.name === name)?.constraints[0] as number | undefined;
  const [min, max] = [bound('min'), bound('max')];
  if (min !== undefined && max !== undefined) return ` from ${min} to ${max}`;
  if (min !== undefined) return ` >= ${min}`;
  return max !== undefined ? ` <= ${max}` : '';
}

/**
 * One message per bad variable. A value of the wrong type fails every rule of its property
 * (`PORT=30OO` is not an integer, and neither >= 0 nor <= 65535 holds for a string), which would
 * read as three contradicting complaints; the first rule written that fails says what is wrong,
 * and a failed type rule also gives the bounds, so the one message says everything expected.
 */
export function describeProblem(error: ValidationError): string {
  const failed = error.constraints ?? {};
  const rules = rulesOf(error.target ?? {}, error.property);
  const first = rules.find((rule) => rule.name !== undefined && rule.name in failed);
  let message = first ? failed[first.name!] : Object.values(failed)[0];
  // A rule with its own message words its expectation itself.
  if (first && first.message === undefined && TYPE_RULES_WITH_BOUNDS.has(first.name!)) {
    message += bounds(rules);
  }
  return `${message} (got ${JSON.stringify(error.value)})`;
}
