import {
  BadRequestException,
  Injectable,
  Logger,
  NotFoundException,
  OnModuleDestroy,
  OnModuleInit,
  Optional,
  PayloadTooLargeException,
} from '@nestjs/common';
import * as tf from '@tensorflow/tfjs';
import { AppConfig } from '../config/app-config';
import { InferenceObserver, ModelRuntimeStats } from './inference-observer';
import { ModelRegistry, VersionStatus } from './model-registry';
import { scanRepository } from './model-repository';
import { ModelWatcher } from './model-watcher';
import { ServedModel } from './served-model';
import { EncodedTensor, encodeInstances } from './tensor-codec';
import { selectBackend } from './tfjs-backend';
import { TensorMap, toNestedMap } from './tensor';

/** Thrown at boot when one or more models cannot be loaded; the message names each path and cause. */
export class ModelLoadError extends Error {}

export interface PredictParams {
  instances: unknown[];
  model?: string;
  version?: string | number;
}

export interface LabelledPrediction {
  label: string;
  scores: Record<string, number>;
}

export interface PredictResult {
  model: string;
  version: number;
  predictions: unknown[];
}

/**
 * Owns every loaded model for the life of the process: loads and warms them all in
 * onModuleInit (Nest awaits it before the HTTP port opens), serves predictions from memory,
 * and disposes them on shutdown. Nothing here reads model files while serving a request.
 */
@Injectable()
export class ModelService implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger(ModelService.name);
  /** Every known version by name; request values are only ever looked up here, never joined into paths. */
  private readonly registry = new ModelRegistry();
  private watcher?: ModelWatcher;
  private lastScanError?: string;
  private ready = false;
  backend: string;

  constructor(
    private readonly config: AppConfig,
    @Optional() private readonly observer?: InferenceObserver,
  ) {}

  async onModuleInit(): Promise<void> {
    this.backend = await selectBackend(this.config.TFJS_BACKEND);
    this.logger.log(`TF.js backend: ${this.backend} (TFJS_BACKEND=${this.config.TFJS_BACKEND})`);
    const locations = await scanRepository(this.config.MODEL_DIR, this.config.MODEL_VERSION_POLICY);
    const failures: string[] = [];
    for (const location of locations) {
      const { error } = await this.registry.load(location);
      if (error) failures.push(error);
    }
    if (failures.length > 0) {
      this.registry.disposeAll();
      throw new ModelLoadError(
        `Cannot load ${failures.length} model(s):\n  ${failures.join('\n  ')}`,
      );
    }
    this.checkDefaultModel();
    this.ready = true;
    if (this.config.MODEL_POLL_SECONDS > 0) {
      this.watcher = new ModelWatcher(this.config.MODEL_POLL_SECONDS * 1000, () => this.reload());
      this.watcher.start();
    }
  }

  async onModuleDestroy(): Promise<void> {
    this.ready = false;
    await this.watcher?.stop();
    this.registry.disposeAll();
  }

  /**
   * One hot-reload pass (MODEL_POLL_SECONDS): loads new versions, retires removed or superseded
   * ones. Unlike at boot, nothing here is fatal: a broken version is reported in its status and
   * an unreadable repository is logged, while the versions already loaded keep serving.
   */
  async reload(): Promise<void> {
    let onDisk;
    try {
      onDisk = await scanRepository(this.config.MODEL_DIR, 'all');
    } catch (error) {
      const message = (error as Error).message;
      if (message !== this.lastScanError) this.logger.warn(`Hot reload skipped: ${message}`);
      this.lastScanError = message;
      return;
    }
    this.lastScanError = undefined;
    await this.registry.reconcile(onDisk, this.config.MODEL_VERSION_POLICY);
  }

  /** True once every model is loaded and warmed, until shutdown begins. */
  isReady(): boolean {
    return this.ready;
  }

  private checkDefaultModel(): void {
    const name = this.config.DEFAULT_MODEL;
    if (name !== undefined && this.registry.serving(name).length === 0) {
      throw new ModelLoadError(
        `DEFAULT_MODEL=${name} is not in the repository; models: ${this.modelNames().join(', ')}`,
      );
    }
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
    const named = status.filter((v) => v.version === Number(version));
    if (named.length === 0) throw this.registry.versionNotFound(name, version);
    return named;
  }

  /** Whether a model (or one version of it) serves right now; 404 for one never seen. */
  isServing(name: string, version?: string): boolean {
    return this.statusOf(name, version).some((v) => v.state === 'AVAILABLE');
  }

  private modelNotFound(name: string): NotFoundException {
    const tracked = this.registry.statusOf(name);
    const why = tracked ? 'has no available version' : 'not found';
    return new NotFoundException(
      `Model '${name}' ${why}; available models: ${this.modelNames().join(', ') || 'none'}`,
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
      backend: this.backend,
      defaultVersion: versions[0].version,
      versions: versions.map((model) => {
        const { description, labels, ...rest } = model.metadata;
        return {
          version: model.version,
          state: model.state,
          format: model.format,
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
    const modelName = name ?? this.defaultModelName();
    const versions = this.versionsOf(modelName);
    if (version === undefined) return versions[0];
    const wanted = Number(version);
    const model = versions.find((m) => m.version === wanted);
    if (!model) throw this.registry.versionNotFound(modelName, version);
    return model;
  }

  private defaultModelName(): string {
    if (this.config.DEFAULT_MODEL) return this.config.DEFAULT_MODEL;
    const names = this.modelNames();
    if (names.length === 1) return names[0];
    throw new BadRequestException(
      `Several models are served; name one in "model". Available models: ${names.join(', ')}`,
    );
  }

  /** Checks a request's batch size against MAX_BATCH (one place for every protocol). */
  checkBatchSize(count: number): void {
    if (count > this.config.MAX_BATCH) {
      throw new PayloadTooLargeException(
        `Too many instances: ${count}; at most MAX_BATCH=${this.config.MAX_BATCH} per request`,
      );
    }
  }

  /** Runs already-encoded tensors through a model: the entry point every protocol adapter shares. */
  async infer(model: ServedModel, inputs: EncodedTensor[]): Promise<TensorMap> {
    const instances = inputs[0].shape[0];
    this.checkBatchSize(instances);
    // Counted from here (the same synchronous step as resolve()) so a hot swap that retires this
    // version waits for the request instead of freeing the weights under it.
    const release = this.registry.acquire(model);
    const started = performance.now();
    let ok = false;
    try {
      const outputs = await model.predict(inputs);
      ok = true;
      return outputs;
    } finally {
      release();
      const seconds = (performance.now() - started) / 1000;
      this.observer?.observeInference({
        model: model.name,
        version: model.version,
        instances,
        seconds,
        ok,
      });
    }
  }

  /** Readiness turns false at once when shutdown begins; models stay loaded for in-flight requests. */
  beginShutdown(): void {
    this.ready = false;
  }

  /** TF.js memory and the loaded models' states, read at scrape time by the metrics module. */
  runtimeStats(): ModelRuntimeStats {
    const { numTensors, numBytes } = tf.memory();
    const models = this.registry.all().map((m) => ({
      name: m.name,
      version: m.version,
      state: m.state,
      loadSeconds: (m.loadTimeMs ?? 0) / 1000,
    }));
    return { numTensors, numBytes, models };
  }

  /** The row ("instances") format: one prediction per instance, in order, labelled when the model has labels. */
  async predict(params: PredictParams): Promise<PredictResult> {
    const model = this.resolve(params.model, params.version);
    this.checkBatchSize(params.instances.length);
    const outputs = await this.infer(
      model,
      encodeInstances(model.signature.inputs, params.instances),
    );
    return {
      model: model.name,
      version: model.version,
      predictions: toRows(model, toNestedMap(outputs)),
    };
  }
}

const round = (ms: number) => Math.round(ms * 100) / 100;

/** Splits batch outputs into one prediction per instance. */
function toRows(model: ServedModel, outputs: Record<string, unknown[]>): unknown[] {
  const names = Object.keys(outputs);
  const count = outputs[names[0]].length;
  const labels = model.labels;
  return Array.from({ length: count }, (_, row) => {
    if (labels) return labelled(labels, outputs[names[0]][row] as number[]);
    if (names.length === 1) return outputs[names[0]][row];
    return Object.fromEntries(names.map((name) => [name, outputs[name][row]]));
  });
}

function labelled(labels: string[], scores: number[]): LabelledPrediction {
  let best = 0;
  scores.forEach((score, i) => {
    if (score > scores[best]) best = i;
  });
  return {
    label: labels[best],
    scores: Object.fromEntries(labels.map((label, i) => [label, scores[i]])),
  };
}
