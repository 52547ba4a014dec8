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
import { clip } from '../errors/client-text';
import { ServingError } from '../errors/serving-error';
import { AppConfig } from '../config/app-config';
import { usableCores } from '../config/cpu-quota';
import { engineOptions } from '../engines/registry';
import { rowsProblem } from './inference/fixed-batch';
import { BatchScheduler } from './inference/batch-scheduler';
import { InferencePool } from './inference/inference-pool';
import { currentRequestSignal } from './request-scope';
import { engineTotals, InferenceObserver, ModelRuntimeStats } from './inference/inference-observer';
import { ModelRegistry, STRICT_RESTART_FAILS, VersionStatus } from './catalog/model-registry';
import {
  applyVersionPolicy,
  FolderProblem,
  ModelLocation,
  scanModels,
  scanRepository,
  VERSION_DIR,
} from './catalog/model-repository';
import { modelSummary } from './catalog/model-summary';
import { ModelWatcher } from './catalog/model-watcher';
import { ServedModel } from './catalog/served-model';
import type { EncodedTensor } from '../tensor/tensor';
import { TensorMap } from '../tensor/tensor';

/**
 * A version as a request gives it: a number from a JSON body, or the digits of a version folder
 * from a path. `Number()` alone reads "0x2", "2e0", "+2" and " 2" as 2: one version with many
 * spellings is a cache key and an audit log that disagree with the folder.
 */
export function parseVersion(version: string | number): number {
  const text = String(version);
  const value = Number(text);
  if (VERSION_DIR.test(text) && Number.isSafeInteger(value)) return value;
  throw new BadRequestException(
    `Version '${clip(text)}' is not a version: expected a positive decimal integer written with digits only (e.g. 2), as the model's version folders are named`,
  );
}

/** Thrown at boot when one or more models cannot be loaded; the message names each path and cause. */
export class ModelLoadError extends Error {}

/** A model folder or version that a boot would not serve, and why (full paths, for the log). */
export interface LoadFailure {
  name: string;
  /** Absent for a model folder the scan could not use. */
  version?: number;
  error: string;
}

/** What loading the repository gave: the versions serving, the ones that failed, the unusable folders. */
export interface RepositoryReport {
  loaded: ServedModel[];
  failed: LoadFailure[];
  problems: LoadFailure[];
}

/**
 * Owns every served model for the life of the process: starts the inference threads and loads
 * and warms every model in each of them in onModuleInit (Nest awaits it before the HTTP port
 * opens), queues and batches requests onto the threads, and frees everything on shutdown.
 * The main thread never runs a model and never reads model files while serving a request.
 */
@Injectable()
export class ModelService implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger(ModelService.name);
  /** The inference threads; exposed for metrics and the thread-death test. */
  pool: InferencePool;
  private scheduler: BatchScheduler;
  /** Every known version by name; request values are only ever looked up here, never joined into paths. */
  private registry: ModelRegistry;
  private watcher?: ModelWatcher;
  private lastScanError?: string;
  /** The model folders hot reload could not use, with the reason already logged for each. */
  private folderProblems = new Map<string, string>();
  private ready = false;
  backend: string;

  constructor(
    private readonly config: AppConfig,
    @Optional() private readonly observer?: InferenceObserver,
  ) {}

  async onModuleInit(): Promise<void> {
    const report = await this.loadRepository(this.config.STRICT_STARTUP);
    const failures = [...report.problems, ...report.failed].map((failure) => failure.error);
    try {
      if (failures.length > 0 && this.config.STRICT_STARTUP) {
        throw new ModelLoadError(
          `Cannot load ${failures.length} model(s):\n  ${failures.join('\n  ')}`,
        );
      }
      if (report.loaded.length === 0) {
        // A process that is ready but serves nothing would take traffic and answer 404 to all
        // of it; one that exits is a crash loop its operator sees.
        throw new ModelLoadError(
          `No model could be loaded, and STRICT_STARTUP=false serves only models that load:\n  ${failures.join('\n  ')}`,
        );
      }
      this.checkDefaultModel();
    } catch (error) {
      this.registry.clear();
      await this.pool.close();
      throw error;
    }
    for (const failure of report.problems) {
      this.logger.warn(
        `Model '${failure.name}' is not served: ${failure.error}; the server starts without it (STRICT_STARTUP=false)`,
      );
    }
    for (const failure of report.failed) {
      this.logger.warn(
        `Model '${failure.name}' version ${failure.version} is not served: ${failure.error}; the server starts without it (STRICT_STARTUP=false)`,
      );
    }
    // Already said above: hot reload warns again only when a folder's reason changes.
    this.folderProblems = new Map(report.problems.map((p) => [p.name, p.error]));
    for (const line of modelSummary(this.registry.all(), this.backend)) this.logger.log(line);
    this.ready = true;
    if (this.config.MODEL_POLL_SECONDS > 0) {
      this.watcher = new ModelWatcher(this.config.MODEL_POLL_SECONDS * 1000, () => this.reload());
      this.watcher.start();
    }
  }

  /**
   * Starts the inference threads, then loads and warms in every thread each version a boot
   * serves (MODEL_VERSION_POLICY), keeping those that fail with their reason. Strict, a model
   * folder the scan cannot use throws before any thread starts, as it always has; otherwise it
   * is reported with the failures. The boot and `--check` both run this, so a check loads
   * exactly what a start would.
   */
  async loadRepository(strict: boolean): Promise<RepositoryReport> {
    const config = this.config;
    this.pool = new InferencePool({
      threads: config.INFERENCE_THREADS,
      engines: engineOptions(config),
    });
    this.registry = new ModelRegistry(this.pool);
    this.scheduler = new BatchScheduler(
      this.pool,
      { maxRows: config.BATCH_MAX_SIZE, timeoutMs: config.BATCH_TIMEOUT_MS },
      (event) => this.observer?.observeBatch(event),
    );
    this.pool.onIdle = () => this.scheduler.pump();
    this.pool.onVersionsFailed = (failures) =>
      failures.forEach(({ key, error }) => {
        const reported = this.registry.fail(key, error) ?? key;
        this.scheduler.discard(key, ServingError.unavailable(`${reported}; it is not served`));
      });
    let locations: ModelLocation[];
    let problems: FolderProblem[] = [];
    if (strict) {
      locations = await scanRepository(config.MODEL_DIR, config.MODEL_VERSION_POLICY);
    } else {
      const scan = await scanModels(config.MODEL_DIR);
      locations = applyVersionPolicy(scan.locations, config.MODEL_VERSION_POLICY);
      problems = scan.problems;
    }
    try {
      this.backend = await this.pool.start();
    } catch (error) {
      await this.pool.close();
      throw error;
    }
    const cores = usableCores();
    this.logger.log(
      `${config.INFERENCE_THREADS} inference thread(s) (usable cores: ${cores.cores}, from ${cores.source}), TF.js backend ${this.backend} (TFJS_BACKEND=${config.TFJS_BACKEND}); batches of at most ${config.BATCH_MAX_SIZE} row(s), BATCH_TIMEOUT_MS=${config.BATCH_TIMEOUT_MS}`,
    );
    const report: RepositoryReport = {
      loaded: [],
      failed: [],
      problems: problems.map(({ name, message }) => ({ name, error: message })),
    };
    for (const location of locations) {
      const { error } = await this.registry.load(location);
      if (error) report.failed.push({ name: location.name, version: location.version, error });
      else
        report.loaded.push(
          ...this.registry.serving(location.name).filter((m) => m.version === location.version),
        );
    }
    return report;
  }

  async onModuleDestroy(): Promise<void> {
    this.ready = false;
    await this.watcher?.stop();
    this.registry?.clear();
    await this.pool?.close();
  }

  /**
   * One hot-reload pass (MODEL_POLL_SECONDS): loads new versions, reloads changed ones, retires
   * removed or superseded ones. Unlike at boot, nothing here is fatal: a broken version is
   * reported in its status, a model folder that cannot be used and an unreadable repository are
   * logged, and what is already loaded keeps serving. Each model folder stands on its own: one
   * that is empty or unreadable holds up only its own model.
   */
  async reload(): Promise<void> {
    let scan;
    try {
      scan = await scanModels(this.config.MODEL_DIR);
    } catch (error) {
      const message = (error as Error).message;
      if (message !== this.lastScanError) this.logger.warn(`Hot reload skipped: ${message}`);
      this.lastScanError = message;
      return;
    }
    this.lastScanError = undefined;
    this.reportFolderProblems(scan.problems);
    await this.registry.reconcile(
      scan.locations,
      this.config.MODEL_VERSION_POLICY,
      new Set(this.folderProblems.keys()),
    );
  }

  /** One warning per model folder and reason, not one per pass: a poll every second would bury the log. */
  private reportFolderProblems(problems: FolderProblem[]): void {
    const now = new Map(problems.map((problem) => [problem.name, problem.message]));
    for (const [name, message] of now) {
      if (this.folderProblems.get(name) === message) continue;
      const kept = this.registry.serving(name).map((model) => model.version);
      this.logger.warn(
        `Hot reload skips model '${name}': ${message}; ${kept.length > 0 ? `its loaded version(s) ${kept.join(', ')} keep serving` : 'nothing of it is loaded'} until the folder is fixed; ${STRICT_RESTART_FAILS}`,
      );
    }
    for (const name of this.folderProblems.keys()) {
      if (!now.has(name)) this.logger.log(`Hot reload reads the folder of model '${name}' again`);
    }
    this.folderProblems = now;
  }

  /** True once every model is loaded and warmed, until shutdown begins, while a thread serves. */
  isReady(): boolean {
    return this.ready && this.pool.serving;
  }

  private checkDefaultModel(): void {
    const problem = this.defaultModelProblem();
    if (problem) throw new ModelLoadError(problem);
  }

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

  private modelNotFound(name: string): NotFoundException {
    const tracked = this.registry.statusOf(name);
    const why = tracked ? 'has no available version' : 'not found';
    return new NotFoundException(
      `Model '${clip(name)}' ${why}; available models: ${this.modelNames().join(', ') || 'none'}`,
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

  /**
   * Runs already-encoded tensors through a model: the entry point every protocol adapter shares.
   * The request waits in its version's queue, possibly merged with others into one batch, and
   * is dropped unrun if its client leaves or its deadline passes first.
   */
  async infer(model: ServedModel, inputs: EncodedTensor[]): Promise<TensorMap> {
    const instances = inputs[0]?.shape[0] ?? 1;
    this.checkBatchSize(instances);
    checkRows(model, inputs);
    // Counted from here (the same synchronous step as resolve()) so a hot swap that retires this
    // version waits for the request instead of freeing the weights under it.
    const target = this.registry.current(model);
    const release = this.registry.acquire(target);
    let seconds = 0;
    let ok = false;
    try {
      const result = await this.scheduler.submit(target, inputs, currentRequestSignal());
      seconds = result.seconds;
      ok = true;
      return Object.fromEntries(result.outputs.map((t) => [t.name, t]));
    } finally {
      release();
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

  /** Thread memory and busy time, queue depths and the models' states, read at scrape time. */
  runtimeStats(): ModelRuntimeStats {
    const threads = this.pool.snapshot();
    const models = this.registry.all().map((m) => ({
      name: m.name,
      version: m.version,
      state: m.state,
      loadSeconds: (m.loadTimeMs ?? 0) / 1000,
    }));
    // Summed per version: while a version reloads in place its two copies each have a queue.
    const byVersion = new Map<string, { name: string; version: number; requests: number }>();
    for (const { target, requests } of this.scheduler.depths().values()) {
      const id = `${target.name}/${target.version}`;
      const queue = byVersion.get(id) ?? {
        name: target.name,
        version: target.version,
        requests: 0,
      };
      queue.requests += requests;
      byVersion.set(id, queue);
    }
    const queues = [...byVersion.values()];
    return {
      engines: engineTotals(threads),
      threads,
      threadReplacements: this.pool.replacements,
      queues,
      models,
    };
  }
}

const round = (ms: number) => Math.round(ms * 100) / 100;

/**
 * Row checks made before queueing (the fixed-batch rule the threads run by, see fixed-batch.ts),
 * and a layers model pairs its inputs row by row. TF.js checks neither: on wasm a shorter input
 * is read past its end and garbage comes back.
 */
function checkRows(model: ServedModel, inputs: EncodedTensor[]): void {
  const paired = model.format === 'layers-model';
  const problem = rowsProblem(`model '${model.name}'`, model.fixedBatch, inputs, paired);
  if (problem) throw new BadRequestException(problem);
}
