import { Injectable } from '@nestjs/common';
import { AppConfig } from '../../config/app-config';
import { engineOptions } from '../../engines/registry';
import { ServingError } from '../../errors/serving-error';
import type { EncodedTensor, TensorMap } from '../../tensor/tensor';
import { annotateRequestModel, currentRequestSignal } from '../request-scope';
import { ModelRegistry } from '../catalog/model-registry';
import { ServedModel } from '../catalog/served-model';
import { BatchScheduler } from './batch-scheduler';
import { InferencePool } from './inference-pool';
import { engineTotals, ModelRuntimeStats } from './inference-observer';
import { rowsProblem } from './fixed-batch';
import { ModelStatistics, VersionStatistics } from './model-statistics';
import type { JobResult } from './batch-scheduler';

/**
 * Runs requests on the models: admission (batch size, rows), the version's queue and batches
 * (BatchScheduler), the inference threads (InferencePool), and what observers are told.
 */
@Injectable()
export class InferenceService {
  constructor(
    private readonly config: AppConfig,
    private readonly pool: InferencePool,
    private readonly registry: ModelRegistry,
    private readonly scheduler: BatchScheduler,
    private readonly counters: ModelStatistics,
  ) {}

  /** Checks a request's batch size against MAX_BATCH (one place for every protocol). */
  checkBatchSize(count: number): void {
    if (count > this.config.MAX_BATCH) {
      throw ServingError.tooLarge(
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
    // Labelled at once, so a request answered before its inference ends (deadline, client gone)
    // is still counted and logged with the model it named.
    annotateRequestModel(model.name, model.version);
    const instances = inputs[0]?.shape[0] ?? 1;
    this.checkBatchSize(instances);
    checkRows(model, inputs);
    // Counted from here (the same synchronous step as resolve()) so a hot swap that retires this
    // version waits for the request instead of freeing the weights under it.
    const target = this.registry.current(model);
    const release = this.registry.acquire(target);
    const admitted = process.hrtime.bigint();
    let result: JobResult | undefined;
    try {
      result = await this.scheduler.submit(target, inputs, currentRequestSignal());
      return Object.fromEntries(result.outputs.map((t) => [t.name, t]));
    } finally {
      release();
      this.counters.observeInference({
        model: model.name,
        version: model.version,
        instances,
        seconds: result?.seconds ?? 0,
        ok: result !== undefined,
        ns: Number(process.hrtime.bigint() - admitted),
        queueNs: result?.queueNs,
        compute: result?.compute,
      });
    }
  }

  /** The statistics of these versions, or of every loaded version. */
  statistics(models?: ServedModel[]): VersionStatistics[] {
    return models ? this.counters.snapshot(models) : this.counters.all();
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
      statistics: this.counters.all(),
    };
  }
}

/**
 * Row checks made before queueing (the fixed-batch rule the threads run by, see fixed-batch.ts),
 * and a layers model pairs its inputs row by row. TF.js checks neither: on wasm a shorter input
 * is read past its end and garbage comes back.
 */
function checkRows(model: ServedModel, inputs: EncodedTensor[]): void {
  const paired = model.format === 'layers-model';
  const problem = rowsProblem(`model '${model.name}'`, model.fixedBatch, inputs, paired);
  if (problem) throw ServingError.invalid(problem);
}

/** The inference threads as the configuration sizes them; started by the lifecycle at boot. */
export function createInferencePool(config: AppConfig): InferencePool {
  return new InferencePool({
    threads: config.INFERENCE_THREADS,
    engines: engineOptions(config),
  });
}

/**
 * The batcher in front of the pool; the pool wakes it whenever a thread may have become idle,
 * and refuses through it the queue of a version no thread can load any more.
 */
export function createBatchScheduler(
  config: AppConfig,
  pool: InferencePool,
  registry: ModelRegistry,
  statistics: ModelStatistics,
): BatchScheduler {
  const scheduler = new BatchScheduler(
    pool,
    { maxRows: config.BATCH_MAX_SIZE, timeoutMs: config.BATCH_TIMEOUT_MS },
    (event) => statistics.observeBatch(event),
    (event) => statistics.observeExecution(event),
  );
  pool.onIdle = () => scheduler.pump();
  pool.onVersionsFailed = (failures) =>
    failures.forEach(({ key, error }) => {
      const reported = registry.fail(key, error) ?? key;
      scheduler.discard(key, ServingError.unavailable(`${reported}; it is not served`));
    });
  return scheduler;
}
