import { Injectable, Logger } from '@nestjs/common';
import { join } from 'node:path';
import { AppConfig, modelControlMode } from '../../config/app-config';
import { clip } from '../../errors/client-text';
import { ServingError } from '../../errors/serving-error';
import type { ModelConfig } from '../model-config/model-config';
import { parseConfigJson } from '../model-config/read-model-config';
import { ModelRegistry, unknownModel } from '../catalog/model-registry';
import {
  applyVersionPolicy,
  ModelLocation,
  RepositoryScan,
  scanModels,
} from '../catalog/model-repository';
import { relativeToRepository } from '../catalog/repository-paths';
import { ModelState } from '../catalog/served-model';

/** One entry of Triton's repository index: a model version and its state. */
export interface RepositoryIndexEntry {
  name: string;
  /** Absent for a model folder that holds no usable version. */
  version?: string;
  /** Triton's states: READY, LOADING, UNLOADING, UNAVAILABLE. */
  state: string;
  reason: string;
}

/** Triton's name for each state of a version. */
const TRITON_STATE: Record<ModelState, string> = {
  START: 'LOADING',
  LOADING: 'LOADING',
  AVAILABLE: 'READY',
  UNLOADING: 'UNLOADING',
  END: 'UNAVAILABLE',
};

/** Where a load request's configuration comes from, as a file's path would say it. */
export const LOAD_REQUEST_CONFIG = 'load request parameters.config';

/** Triton's words when load and unload are not allowed (its clients match on them). */
const CONTROL_DISABLED = 'explicit model load / unload is not allowed if polling is enabled';

/**
 * Triton's model repository extension over the registry: the index of every model on disk,
 * loaded or not, and load and unload by name (MODEL_CONTROL_MODE=explicit). Loads and unloads
 * run one at a time, in the order they were asked for.
 */
@Injectable()
export class RepositoryControl {
  private readonly logger = new Logger('ModelRepository');
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly config: AppConfig,
    private readonly registry: ModelRegistry,
  ) {}

  /** Every model version on disk or tracked, with its state; `readyOnly`: those that serve. */
  async index(readyOnly = false): Promise<RepositoryIndexEntry[]> {
    const scan = await this.scan();
    const entries: RepositoryIndexEntry[] = [];
    const names = new Set([
      ...scan.locations.map((l) => l.name),
      ...scan.problems.map((p) => p.name),
      ...this.registry.all().map((m) => m.name),
    ]);
    const wanted = applyVersionPolicy(scan.locations, this.config.MODEL_VERSION_POLICY);
    for (const name of [...names].sort()) {
      const tracked = this.registry.statusOf(name) ?? [];
      for (const status of tracked) {
        entries.push({
          name,
          version: String(status.version),
          state: TRITON_STATE[status.state],
          reason: status.error ?? '',
        });
      }
      const seen = new Set(tracked.map((status) => status.version));
      const onDisk = wanted.filter((l) => l.name === name && !seen.has(l.version));
      for (const location of onDisk) {
        entries.push({
          name,
          version: String(location.version),
          state: 'UNAVAILABLE',
          reason: 'unloaded',
        });
      }
      const problem = scan.problems.find((p) => p.name === name);
      if (problem && tracked.length === 0) {
        entries.push({
          name,
          state: 'UNAVAILABLE',
          reason: `failed to load '${name}': ${this.relative(problem.message)}`,
        });
      }
    }
    entries.sort((a, b) =>
      a.name === b.name
        ? Number(b.version ?? 0) - Number(a.version ?? 0)
        : a.name < b.name
          ? -1
          : 1,
    );
    return readyOnly ? entries.filter((entry) => entry.state === 'READY') : entries;
  }

  /**
   * Loads a model from the repository (every version its policy serves), or reloads it in place
   * when it serves: warmed in every thread before it takes a request, the old copy serving until
   * then and kept when the new one fails. `configText`, a load request's `parameters.config`,
   * replaces the model's own configuration for this load.
   */
  load(name: string, configText?: string): Promise<void> {
    this.checkControl();
    const override = configText === undefined ? undefined : parseOverride(name, configText);
    return this.serialized(async () => {
      const scan = await this.scan();
      const problem = scan.problems.find((p) => p.name === name);
      if (problem) {
        throw ServingError.invalid(`failed to load '${name}': ${this.relative(problem.message)}`);
      }
      const found = scan.locations.filter((location) => location.name === name);
      if (found.length === 0) {
        const models = [...new Set(scan.locations.map((l) => l.name))];
        throw ServingError.notFound(
          `failed to load '${clip(name)}', failed to poll from model repository: MODEL_DIR has no model folder of that name; its models: ${models.join(', ') || 'none'}`,
        );
      }
      // Attached before the policy picks the versions, so that an override's policy is the one.
      const located: ModelLocation[] = override
        ? found.map((location) => ({
            ...location,
            config: { config: override, file: LOAD_REQUEST_CONFIG },
          }))
        : found;
      const wanted = applyVersionPolicy(located, this.config.MODEL_VERSION_POLICY);
      const failures = await this.registry.loadModel(name, wanted);
      if (failures.length > 0) {
        this.logger.warn(`Load request for '${name}' failed: ${failures.join('; ')}`);
        throw ServingError.invalid(failures.join('; '));
      }
      this.logger.log(
        `Loaded '${name}' version(s) ${wanted.map((l) => l.version).join(', ')} (load request)`,
      );
    });
  }

  /**
   * Unloads a model: new requests stop seeing it at once, those queued or running finish, then
   * every thread frees it. It stays in the index (UNAVAILABLE, unloaded) until loaded again.
   */
  unload(name: string): Promise<void> {
    this.checkControl();
    return this.serialized(async () => {
      const known =
        this.registry.statusOf(name) !== undefined ||
        this.registry.isUnloaded(name) ||
        (await this.scan()).locations.some((location) => location.name === name);
      if (!known) throw unknownModel(name, 'is not found', this.registry.servingNames());
      await this.registry.unloadModel(name);
    });
  }

  private checkControl(): void {
    const mode = modelControlMode(this.config);
    if (mode === 'explicit') return;
    const why =
      mode === 'poll'
        ? `MODEL_CONTROL_MODE=poll: MODEL_DIR is scanned every ${this.config.MODEL_POLL_SECONDS} s, so add or remove its version folders instead`
        : 'MODEL_CONTROL_MODE=none: the models loaded at boot are fixed';
    throw ServingError.unavailable(
      `${CONTROL_DISABLED}; ${why}, or start the server with MODEL_CONTROL_MODE=explicit`,
    );
  }

  private serialized<T>(operation: () => Promise<T>): Promise<T> {
    const run = this.queue.then(operation, operation);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async scan(): Promise<RepositoryScan> {
    try {
      return await scanModels(this.config.MODEL_DIR);
    } catch (error) {
      // The full reason (with the server's paths) goes to the log, not to the client.
      this.logger.warn(`Repository request: ${(error as Error).message}`);
      throw ServingError.unavailable('The model repository cannot be read; see the server log');
    }
  }

  /** A folder problem as clients read it: paths relative to the repository. */
  private relative(message: string): string {
    return relativeToRepository(message, join(this.config.MODEL_DIR, 'name', '1'));
  }
}

/**
 * A load request's configuration: Triton's ModelConfig in JSON, checked against
 * model_config.proto as a config.json is, and not naming another model. What it says about the
 * model file is checked when the model loads.
 */
function parseOverride(name: string, text: string): ModelConfig {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw ServingError.invalid(
      `failed to load '${clip(name)}': parameters.config is not valid JSON (${(error as Error).message}); expected Triton's model configuration as a JSON string, e.g. "{\\"max_batch_size\\": 8}"`,
    );
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw ServingError.invalid(
      `failed to load '${clip(name)}': parameters.config must hold a JSON object (Triton's model configuration), got ${Array.isArray(parsed) ? 'an array' : typeof parsed}`,
    );
  }
  let config: ModelConfig;
  try {
    config = parseConfigJson(parsed, LOAD_REQUEST_CONFIG);
  } catch (error) {
    throw ServingError.invalid(`failed to load '${clip(name)}': ${(error as Error).message}`);
  }
  if (config.name !== undefined && config.name !== '' && config.name !== name) {
    throw ServingError.invalid(
      `failed to load '${clip(name)}': parameters.config names model '${clip(config.name)}'; a configuration given to a load request must name the model it loads, or leave "name" out`,
    );
  }
  return { ...config, name };
}
