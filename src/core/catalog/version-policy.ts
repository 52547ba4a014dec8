import type { VersionPolicyConfig } from '../model-config/model-config';
import type { ModelLocation } from './model-repository';

/** A version a model's policy asks for that cannot be served: not on disk, or the policy is wrong. */
export interface VersionProblem {
  name: string;
  /** Absent when the policy itself is wrong (no version of the model is served). */
  version?: number;
  error: string;
}

/** The versions to serve and the ones a policy names that cannot be. */
export interface VersionSelection {
  wanted: ModelLocation[];
  problems: VersionProblem[];
}

const isPositiveInteger = (value: unknown) => Number.isInteger(value) && (value as number) > 0;

/**
 * The versions of one model a policy serves, ascending, and those it names that are not on disk
 * (`specific` only). Throws, naming the field, for a policy that is not one of Triton's three.
 */
export function versionsToServe(
  onDisk: readonly number[],
  policy: VersionPolicyConfig,
): { serve: number[]; missing: number[] } {
  const sorted = [...onDisk].sort((a, b) => a - b);
  const kinds = Object.keys(policy);
  if (kinds.length !== 1) {
    throw new Error(
      `version_policy must hold exactly one of latest, all or specific; it holds ${kinds.join(', ') || 'none'}`,
    );
  }
  if ('all' in policy) return { serve: sorted, missing: [] };
  if ('latest' in policy) {
    // Triton's default: `latest {}` serves the highest version.
    const count = policy.latest?.num_versions ?? 1;
    if (!isPositiveInteger(count)) {
      throw new Error(
        `version_policy.latest.num_versions must be a positive integer; got ${JSON.stringify(count)}`,
      );
    }
    return { serve: sorted.slice(-count), missing: [] };
  }
  if ('specific' in policy) {
    const versions = policy.specific?.versions;
    if (!Array.isArray(versions) || versions.length === 0 || !versions.every(isPositiveInteger)) {
      throw new Error(
        `version_policy.specific.versions must list positive integers; got ${JSON.stringify(versions)}`,
      );
    }
    const asked = new Set(versions);
    return {
      serve: sorted.filter((version) => asked.has(version)),
      missing: [...asked].filter((version) => !sorted.includes(version)).sort((a, b) => a - b),
    };
  }
  throw new Error(`version_policy must be latest, all or specific; got '${kinds[0]}'`);
}
