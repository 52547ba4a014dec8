import { Injectable, Logger } from '@nestjs/common';
import { AppConfig, modelControlMode, modelsToLoad } from '../../config/app-config';
import { usableCores } from '../../config/cpu-quota';
import { ModelCatalog } from '../catalog/model-catalog';
import { ModelRegistry, STRICT_RESTART_FAILS } from '../catalog/model-registry';
import {
  FolderProblem,
  ModelLocation,
  scanEveryFolder,
  scanModels,
  selectVersions,
  unusableFolders,
} from '../catalog/model-repository';
import { modelSummary } from '../catalog/model-summary';
import { ModelWatcher } from '../catalog/model-watcher';
import { ServedModel } from '../catalog/served-model';
import { InferencePool } from '../inference/inference-pool';

/** Thrown at boot when one or more models cannot be loaded; the message names each path and cause. */
export class ModelLoadError extends Error {}

/**
 * The versions and folder problems of the models LOAD_MODELS names (explicit mode): the others
 * stay on disk, unloaded, for the load API. A name that is not in the repository fails the boot,
 * as Triton's --load-model does: a typo would otherwise start a server without the model.
 */
function selectModels(
  only: string[],
  locations: ModelLocation[],
  problems: FolderProblem[],
  root: string,
): [ModelLocation[], FolderProblem[]] {
  const names = new Set([...locations, ...problems].map((found) => found.name));
  const missing = only.filter((name) => !names.has(name));
  if (missing.length > 0) {
    throw new ModelLoadError(
      `LOAD_MODELS names ${missing.map((name) => `'${name}'`).join(', ')}, not in MODEL_DIR ${root}; its models: ${[...names].sort().join(', ')}`,
    );
  }
  const chosen = new Set(only);
  return [
    locations.filter((location) => chosen.has(location.name)),
    problems.filter((problem) => chosen.has(problem.name)),
  ];
}

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
 * The life of the served models: starts the inference threads and loads and warms every model
 * in each of them at boot (ModelService.onModuleInit, which Nest awaits before the HTTP port
 * opens), reloads the repository while serving (MODEL_POLL_SECONDS), says whether the process is
 * ready, and frees everything on shutdown. The main thread never reads model files while serving
 * a request.
 */
@Injectable()
export class ModelLifecycle {
  private readonly logger = new Logger('ModelService');
  private watcher?: ModelWatcher;
  private lastScanError?: string;
  /** The model folders hot reload could not use, with the reason already logged for each. */
  private folderProblems = new Map<string, string>();
  /** What hot reload said about version policies (versions not on disk, bad policies). */
  private versionProblems = new Set<string>();
  private ready = false;
  /** The TF.js backend the threads run, once they started. */
  backend: string;

  constructor(
    private readonly config: AppConfig,
    private readonly pool: InferencePool,
    private readonly registry: ModelRegistry,
    private readonly catalog: ModelCatalog,
  ) {}

  async boot(): Promise<void> {
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
      const problem = this.catalog.defaultModelProblem();
      if (problem) throw new ModelLoadError(problem);
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
    if (modelControlMode(this.config) === 'poll') {
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
    let onDisk: ModelLocation[];
    let problems: FolderProblem[] = [];
    const only = modelControlMode(config) === 'explicit' ? modelsToLoad(config) : undefined;
    if (strict && !only) {
      onDisk = await scanEveryFolder(config.MODEL_DIR);
    } else {
      const scan = await scanModels(config.MODEL_DIR);
      onDisk = scan.locations;
      problems = scan.problems;
      if (only) [onDisk, problems] = selectModels(only, onDisk, problems, config.MODEL_DIR);
      if (strict && problems.length > 0) throw unusableFolders(problems);
    }
    // Each model's version_policy (else MODEL_VERSION_POLICY) decides which versions load.
    const selection = selectVersions(onDisk, config.MODEL_VERSION_POLICY);
    const locations = selection.wanted;
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
      problems: [
        ...problems.map(({ name, message }) => ({ name, error: message })),
        ...selection.problems.filter((problem) => problem.version === undefined),
      ],
    };
    report.failed.push(...selection.problems.filter((problem) => problem.version !== undefined));
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

  async shutdown(): Promise<void> {
    this.ready = false;
    await this.watcher?.stop();
    this.registry.clear();
    await this.pool.close();
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
    const { problems } = selectVersions(scan.locations, this.config.MODEL_VERSION_POLICY);
    this.reportVersionProblems(problems);
    // A model whose policy is not valid is left as it is, as an unreadable folder is.
    const badPolicies = problems.filter((p) => p.version === undefined).map((p) => p.name);
    await this.registry.reconcile(
      scan.locations,
      this.config.MODEL_VERSION_POLICY,
      new Set([...this.folderProblems.keys(), ...badPolicies]),
    );
  }

  /** Each once while it lasts, as folder problems are. */
  private reportVersionProblems(problems: { name: string; error: string }[]): void {
    const now = new Set(problems.map((problem) => problem.error));
    for (const error of now) {
      if (!this.versionProblems.has(error))
        this.logger.warn(`Hot reload: ${error}; ${STRICT_RESTART_FAILS}`);
    }
    this.versionProblems = now;
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

  /** Readiness turns false at once when shutdown begins; models stay loaded for in-flight requests. */
  beginShutdown(): void {
    this.ready = false;
  }
}
