import { Injectable, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import { ImageService } from '../image/image.service';
import type { EncodedTensor, TensorMap } from '../tensor/tensor';
import { encodeInstances } from './request-formats';
import { currentRequestSignal } from './request-scope';
import { ModelCatalog, ModelDescription } from './catalog/model-catalog';
import { VersionStatus } from './catalog/model-registry';
import { ServedModel } from './catalog/served-model';
import { ModelRuntimeStats } from './inference/inference-observer';
import { InferenceService } from './inference/inference.service';
import type { VersionStatistics } from './inference/model-statistics';
import { ModelLifecycle } from './lifecycle/model-lifecycle';
import { toRows } from './prediction-rows';

export { parseVersion } from './catalog/model-catalog';
export { ModelLoadError } from './lifecycle/model-lifecycle';
export type { LoadFailure, RepositoryReport } from './lifecycle/model-lifecycle';

/** Options of ModelService.predict. */
export interface PredictOptions {
  /** A version of the model; the highest serving one when absent. */
  version?: string | number;
}

/** What ModelService.predict resolves to: the body `POST /predict` answers with. */
export interface PredictResult {
  model: string;
  version: number;
  /** One per instance, in order: `{label, scores}` for a model with labels, else its output row(s). */
  predictions: unknown[];
}

/**
 * The one entry to the served models, for every protocol and for a host's own providers. Each
 * concern is a provider of its own behind it: the catalog (which models, which one a request
 * means), the lifecycle (boot, hot reload, readiness, shutdown) and inference (admission,
 * batching onto the threads, observers). Tests replace those, or the pool, scheduler and
 * registry under them, with overrideProvider; a test that replaces ModelService itself loads
 * nothing, since the boot is this service's onModuleInit.
 */
@Injectable()
export class ModelService implements OnModuleInit, OnModuleDestroy {
  constructor(
    private readonly catalog: ModelCatalog,
    private readonly lifecycle: ModelLifecycle,
    private readonly inference: InferenceService,
    private readonly images: ImageService,
  ) {}

  /** Loads and warms every model in every inference thread; Nest awaits it before listening. */
  onModuleInit(): Promise<void> {
    return this.lifecycle.boot();
  }

  /** Ends the watcher, the models and the inference threads (app.close()). */
  onModuleDestroy(): Promise<void> {
    return this.lifecycle.shutdown();
  }

  /** The TF.js backend the inference threads run (wasm, tensorflow or cpu). */
  get backend(): string {
    return this.lifecycle.backend;
  }

  /**
   * Runs a model on instances as `POST /predict` takes them (numbers, nested arrays, objects
   * keyed by input name, `{b64}` or Buffers of images for a model with an image block) and
   * resolves to exactly what it answers. `model` undefined: DEFAULT_MODEL, else the only model.
   * Rejects with a ServingError whose code says what was wrong.
   */
  async predict(
    model: string | undefined,
    instances: unknown[],
    options: PredictOptions = {},
  ): Promise<PredictResult> {
    const served = this.resolve(model, options.version);
    this.checkBatchSize(instances.length);
    const images = this.images.findImages(served, instances);
    const inputs = images
      ? await this.images.encodeRows(served, images, currentRequestSignal())
      : encodeInstances(served.signature.inputs, instances);
    const outputs = await this.infer(served, inputs);
    return { model: served.name, version: served.version, predictions: toRows(served, outputs) };
  }

  /** One hot-reload pass (what MODEL_POLL_SECONDS runs on its timer). */
  reload(): Promise<void> {
    return this.lifecycle.reload();
  }

  /** True once every model is loaded and warmed, until shutdown begins, while a thread serves. */
  isReady(): boolean {
    return this.lifecycle.isReady();
  }

  /** Readiness turns false at once when shutdown begins; models stay loaded for in-flight requests. */
  beginShutdown(): void {
    this.lifecycle.beginShutdown();
  }

  /** Why DEFAULT_MODEL cannot serve once the repository is loaded, if it cannot. */
  defaultModelProblem(): string | undefined {
    return this.catalog.defaultModelProblem();
  }

  modelNames(): string[] {
    return this.catalog.modelNames();
  }

  /** Available versions of a model, highest first. */
  versionsOf(name: string): ServedModel[] {
    return this.catalog.versionsOf(name);
  }

  /** Every known version of a model (or the one named) with its state, failed loads included. */
  statusOf(name: string, version?: string): VersionStatus[] {
    return this.catalog.statusOf(name, version);
  }

  /** Whether a model (or one version of it) serves right now; NOT_FOUND for one never seen. */
  isServing(name: string, version?: string): boolean {
    return this.catalog.isServing(name, version);
  }

  list(): { models: { name: string; versions: number[] }[] } {
    return this.catalog.list();
  }

  describe(name: string): ModelDescription {
    return this.catalog.describe(name);
  }

  /** Picks the model a request names, or the default one (DEFAULT_MODEL, else the only model). */
  resolve(name?: string, version?: string | number): ServedModel {
    return this.catalog.resolve(name, version);
  }

  /** Checks a request's batch size against MAX_BATCH (one place for every protocol). */
  checkBatchSize(count: number): void {
    this.inference.checkBatchSize(count);
  }

  /**
   * Runs already-encoded tensors through a model: the entry point every protocol adapter shares.
   * The request waits in its version's queue, possibly merged with others into one batch, and
   * is dropped unrun if its client leaves or its deadline passes first.
   */
  infer(model: ServedModel, inputs: EncodedTensor[]): Promise<TensorMap> {
    return this.inference.infer(model, inputs);
  }

  /**
   * Triton's statistics (requests, rows, batches, time per phase): of every loaded version with
   * no name, of every loaded version of a model, or of one version; NOT_FOUND for a model or
   * version that is not served.
   */
  statistics(name?: string, version?: string): VersionStatistics[] {
    if (name === undefined) return this.inference.statistics();
    const models =
      version === undefined ? this.catalog.versionsOf(name) : [this.catalog.resolve(name, version)];
    return this.inference.statistics(models);
  }

  /** Thread memory and busy time, queue depths and the models' states, read at scrape time. */
  runtimeStats(): ModelRuntimeStats {
    return this.inference.runtimeStats();
  }
}
