import { Injectable } from '@nestjs/common';
import { AppConfig } from '../../config/app-config';
import { clip } from '../../errors/client-text';
import { ServingError } from '../../errors/serving-error';
import { ModelRegistry, unknownModel, VersionStatus } from './model-registry';
import { VERSION_DIR } from './model-repository';
import { ServedModel } from './served-model';

/**
 * A version as a request gives it: a number from a JSON body, or the digits of a version folder
 * from a path. `Number()` alone reads "0x2", "2e0", "+2" and " 2" as 2: one version with many
 * spellings is a cache key and an audit log that disagree with the folder.
 */
export function parseVersion(version: string | number): number {
  const text = String(version);
  const value = Number(text);
  if (VERSION_DIR.test(text) && Number.isSafeInteger(value)) return value;
  throw ServingError.invalid(
    `Version '${clip(text)}' is not a version: expected a positive decimal integer written with digits only (e.g. 2), as the model's version folders are named`,
  );
}

/**
 * Which models and versions there are and which one a request means: lookups in the registry
 * (request values are never joined into paths), the default model and each version's status.
 */
@Injectable()
export class ModelCatalog {
  constructor(
    private readonly config: AppConfig,
    private readonly registry: ModelRegistry,
  ) {}

  /** Why DEFAULT_MODEL cannot serve once the repository is loaded, if it cannot. */
  defaultModelProblem(): string | undefined {
    const name = this.config.DEFAULT_MODEL;
    if (name === undefined || this.registry.serving(name).length > 0) return undefined;
    const failed = this.registry.statusOf(name);
    return `DEFAULT_MODEL=${name} ${failed ? `failed to load (${failed.map((v) => v.error).join('; ')})` : 'is not in the repository'}; models: ${this.modelNames().join(', ')}`;
  }

  modelNames(): string[] {
    return this.registry.servingNames();
  }

  /** Available versions of a model, highest first. */
  versionsOf(name: string): ServedModel[] {
    const versions = this.registry.serving(name);
    if (versions.length === 0) throw this.modelNotFound(name);
    return versions;
  }

  /** Every known version of a model (or the one named) with its state, failed loads included. */
  statusOf(name: string, version?: string): VersionStatus[] {
    const status = this.registry.statusOf(name);
    if (!status) throw this.modelNotFound(name);
    if (version === undefined) return status;
    const wanted = parseVersion(version);
    const named = status.filter((v) => v.version === wanted);
    if (named.length === 0) throw this.registry.versionNotFound(name, version);
    return named;
  }

  /** Whether a model (or one version of it) serves right now; 404 for one never seen. */
  isServing(name: string, version?: string): boolean {
    return this.statusOf(name, version).some((v) => v.state === 'AVAILABLE');
  }

  private modelNotFound(name: string): ServingError {
    const known = this.registry.statusOf(name) || this.registry.isUnloaded(name);
    return unknownModel(
      name,
      known ? 'has no available versions' : 'is not found',
      this.modelNames(),
    );
  }

  list(): { models: { name: string; versions: number[] }[] } {
    return {
      models: this.modelNames().map((name) => ({
        name,
        versions: this.versionsOf(name).map((m) => m.version),
      })),
    };
  }

  describe(name: string) {
    const versions = this.versionsOf(name);
    return {
      name,
      // Each engine says what runs it: a TF.js backend is no answer for an ONNX model.
      backend: versions[0].backend,
      defaultVersion: versions[0].version,
      versions: versions.map((model) => {
        const { description, labels, ...rest } = model.metadata;
        return {
          version: model.version,
          state: model.state,
          format: model.format,
          platform: model.platform,
          backend: model.backend,
          batching: model.batchable,
          inputs: model.signature.inputs,
          outputs: model.signature.outputs,
          labels,
          description,
          loadTimeMs: round(model.loadTimeMs),
          warmupTimeMs: round(model.warmupTimeMs),
          metadata: rest,
        };
      }),
    };
  }

  /** Picks the model a request names, or the default one (DEFAULT_MODEL, else the only model). */
  resolve(name?: string, version?: string | number): ServedModel {
    const wanted = version === undefined ? undefined : parseVersion(version);
    const modelName = name ?? this.defaultModelName();
    const versions = this.versionsOf(modelName);
    if (wanted === undefined) return versions[0];
    const model = versions.find((m) => m.version === wanted);
    if (!model) throw this.registry.versionNotFound(modelName, wanted);
    return model;
  }

  private defaultModelName(): string {
    if (this.config.DEFAULT_MODEL) return this.config.DEFAULT_MODEL;
    const names = this.modelNames();
    if (names.length === 1) return names[0];
    throw ServingError.invalid(
      `Several models are served; name one in "model". Available models: ${names.join(', ')}`,
    );
  }
}

const round = (ms: number) => Math.round(ms * 100) / 100;

/** What the catalog (GET /models/{name}) says about a model and each of its versions. */
export type ModelDescription = ReturnType<ModelCatalog['describe']>;
