import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { formatOfPlatform } from '../../engines/registry';
import { checkImageMetadata } from '../../image/image-spec';
import { fixedBatchOf } from '../inference/fixed-batch';
import type { BatchOptions } from '../inference/batch-scheduler';
import type { LoadReport } from '../inference/thread-protocol';
import {
  ConfigDefaults,
  ConfiguredShapes,
  effectiveConfig,
  ModelConfigError,
} from '../model-config/effective-config';
import type { ModelConfig } from '../model-config/model-config';
import type { ModelConfigFile } from '../model-config/read-model-config';
import { batchOptionsOf, instanceCount } from '../model-config/model-settings';
import { formatShape, ModelSignature } from '../../tensor/signature';
import { STRING_DTYPE } from '../../tensor/strings';

/** Optional `metadata.json` beside the model file. */
export interface ModelMetadata {
  description?: string;
  labels?: string[];
  /** false keeps this model's requests from being merged into batches. */
  batching?: boolean;
  [key: string]: unknown;
}

/** How a model is stored, as GET /models reports it: one per engine platform (engines/registry.ts). */
export type ModelFormat = string;

/** Lifecycle states, named as TF Serving names them. */
export type ModelState = 'START' | 'LOADING' | 'AVAILABLE' | 'UNLOADING' | 'END';

/** Where the weights live: every inference thread loads (and later frees) its own copy. */
export interface ModelHost {
  /** Loads into `count` inference threads (every one when undefined). */
  load(key: string, dir: string, count?: number): Promise<LoadReport>;
  unload(key: string): Promise<void>;
}

async function readMetadata(dir: string): Promise<ModelMetadata> {
  const text = await readFile(join(dir, 'metadata.json'), 'utf8').catch(
    (error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return undefined;
      throw error;
    },
  );
  if (text === undefined) return {};
  const metadata = JSON.parse(text) as ModelMetadata;
  if (
    metadata.labels !== undefined &&
    !(Array.isArray(metadata.labels) && metadata.labels.every((l) => typeof l === 'string'))
  ) {
    throw new Error('"labels" must be an array of strings');
  }
  if (metadata.batching !== undefined && typeof metadata.batching !== 'boolean') {
    throw new Error('"batching" must be true or false');
  }
  return metadata;
}

/**
 * One version of one model as the main thread knows it: its signature (read by the threads from
 * the model itself), metadata, state and whether its requests may be merged. The weights live
 * in the inference threads; this object never runs the model.
 */
export class ServedModel {
  readonly name: string;
  readonly version: number;
  readonly dir: string;
  state: ModelState = 'START';
  platform: string;
  /** What runs it in the threads (the TF.js backend, onnxruntime-cpu): one per engine. */
  backend: string;
  signature: ModelSignature;
  metadata: ModelMetadata = {};
  loadTimeMs: number;
  warmupTimeMs: number;
  /** Batch-major at warm-up and not turned off by metadata.json. */
  batchable = false;
  /** A fixed first dimension (e.g. [1,192,192,3]): requests run in chunks of it, never merged. */
  fixedBatch?: number;
  /** The model folder's configuration file, when it has one (or a load request's override). */
  readonly configFile?: ModelConfigFile;
  /** The configuration it serves under, in Triton's JSON form (completed and checked): set once it loaded. */
  config: ModelConfig;
  /** How its requests are batched: its configuration's max_batch_size and dynamic_batching; the server's options (BATCH_MAX_SIZE, BATCH_TIMEOUT_MS) without a configuration file. */
  batching?: BatchOptions;
  /** Inference threads holding it (instance_group count); every thread when undefined. */
  instances?: number;
  /** What a user's configuration changes about requests (reshape, full shapes, rows); none without one. */
  shapes?: ConfiguredShapes;

  /**
   * @param generation counts reloads of this version in place (its files changed): the old copy
   * keeps serving under its own key while the new one loads beside it in the same threads.
   */
  constructor(
    location: { name: string; version: number; dir: string; config?: ModelConfigFile },
    readonly generation = 0,
  ) {
    this.name = location.name;
    this.version = location.version;
    this.dir = location.dir;
    this.configFile = location.config;
  }

  /** The copy's id in the inference threads and the batch queues. */
  get key(): string {
    const id = `${this.name}/${this.version}`;
    return this.generation === 0 ? id : `${id}#${this.generation}`;
  }

  get ready(): boolean {
    return this.state === 'AVAILABLE';
  }

  get format(): ModelFormat {
    // An engine reports only the platforms its descriptor lists; the fallback is never the answer.
    return formatOfPlatform(this.platform) ?? this.platform;
  }

  get labels(): string[] | undefined {
    return this.metadata.labels;
  }

  /** Loads and warms the model in every inference thread; it serves once this resolves. */
  async load(host: ModelHost, defaults: ConfigDefaults): Promise<void> {
    this.state = 'LOADING';
    this.metadata = await readMetadata(this.dir).catch((error: Error) => {
      throw new Error(`${join(this.dir, 'metadata.json')}: ${error.message}`);
    });
    this.instances = instanceCount(this.configFile?.config);
    const report = await host.load(this.key, this.dir, this.instances);
    try {
      this.platform = report.platform;
      this.backend = report.backend;
      const effective = effectiveConfig(
        {
          name: this.name,
          platform: report.platform,
          signature: report.signature,
          batchMajor: report.batchMajor,
          batchingAllowed: this.metadata.batching !== false,
        },
        defaults,
        this.configFile,
      );
      this.config = effective.config;
      this.signature = effective.signature;
      this.shapes = effective.shapes;
      checkImageMetadata(this.metadata, this.signature.inputs);
      this.loadTimeMs = report.loadMs;
      this.warmupTimeMs = report.warmupMs;
      this.batchable = effective.batchable;
      // Chunks of a fixed batch are what the model itself takes; a reshape is applied whole.
      const reshaped = (this.shapes?.inputs.size ?? 0) + (this.shapes?.outputs.size ?? 0) > 0;
      this.fixedBatch = reshaped ? undefined : fixedBatchOf(report.signature);
      this.checkLabels();
      // Without a file the effective settings are the server's own, which the scheduler applies.
      this.batching = this.configFile ? batchOptionsOf(this.config) : undefined;
    } catch (error) {
      await host.unload(this.key);
      // A configuration's error names its file and field, which says more than the folder.
      if (error instanceof ModelConfigError) throw error;
      throw new Error(`${this.dir}: ${(error as Error).message}`);
    }
    this.state = 'AVAILABLE';
  }

  private checkLabels(): void {
    const labels = this.labels;
    if (!labels) return;
    const output = this.signature.outputs[0];
    if (output?.dtype === STRING_DTYPE) {
      throw new Error(
        `metadata.json lists labels but output '${output.name}' holds strings; labels name the columns of a numeric [-1,n] output of scores`,
      );
    }
    const classes = output.shape.at(-1);
    if (
      this.signature.outputs.length !== 1 ||
      output.shape.length !== 2 ||
      classes !== labels.length
    ) {
      throw new Error(
        `metadata.json lists ${labels.length} labels but the model's outputs are ${this.signature.outputs.map((o) => `'${o.name}' ${formatShape(o.shape)}`).join(', ')}; labels need a single [-1,${labels.length}] output`,
      );
    }
  }
}
