import type { RunTiming } from '../../engines/engine';
import type { ModelRegistry } from '../catalog/model-registry';
import type { ServedModel } from '../catalog/served-model';
import type { BatchEvent, ExecutionEvent } from './batch-scheduler';
import type { InferenceEvent, InferenceObserver } from './inference-observer';

/** A count and the nanoseconds it added up to (Triton's StatisticDuration). */
export interface Duration {
  count: number;
  ns: number;
}

export interface BatchStatistics {
  batch_size: number;
  compute_input: Duration;
  compute_infer: Duration;
  compute_output: Duration;
}

/**
 * One version's statistics since it was loaded, in the terms (and field names) of Triton's
 * statistics extension, as ModelConfig is in Triton's: the edges only change the wire format.
 */
export interface VersionStatistics {
  name: string;
  version: number;
  /** When the last request (successful or not) was answered, in ms since the epoch; 0 = never. */
  last_inference: number;
  /** Rows answered successfully: a request of 64 rows counts 64. */
  inference_count: number;
  /** Batches the engine ran to the end: requests merged into one batch count once. */
  execution_count: number;
  inference_stats: {
    success: Duration;
    fail: Duration;
    queue: Duration;
    compute_input: Duration;
    compute_infer: Duration;
    compute_output: Duration;
    cache_hit: Duration;
    cache_miss: Duration;
  };
  /** By executed batch size, ascending. */
  batch_stats: BatchStatistics[];
}

const zero = (): Duration => ({ count: 0, ns: 0 });

function add(duration: Duration, ns: number): void {
  duration.count++;
  duration.ns += ns;
}

function emptyStatistics(name: string, version: number): VersionStatistics {
  return {
    name,
    version,
    last_inference: 0,
    inference_count: 0,
    execution_count: 0,
    inference_stats: {
      success: zero(),
      fail: zero(),
      queue: zero(),
      compute_input: zero(),
      compute_infer: zero(),
      compute_output: zero(),
      cache_hit: zero(),
      cache_miss: zero(),
    },
    batch_stats: [],
  };
}

function addCompute(into: Omit<BatchStatistics, 'batch_size'>, compute: RunTiming): void {
  add(into.compute_input, compute.inputNs);
  add(into.compute_infer, compute.inferNs);
  add(into.compute_output, compute.outputNs);
}

/** Versions whose statistics are reported: loaded, or draining the requests they took. */
const LOADED = new Set(['AVAILABLE', 'UNLOADING']);

const idOf = (model: { name: string; version: number }) => `${model.name}/${model.version}`;

const byNameThenVersion = (a: VersionStatistics, b: VersionStatistics) =>
  a.name < b.name ? -1 : a.name > b.name ? 1 : a.version - b.version;

/**
 * The one set of per-version counters: the core tells it where each request and batch went
 * (InferenceService when a request is answered, the batcher when a batch is sent and when it
 * ran), it counts, and passes the same events on to the observer (the metrics), whose counters
 * read these at scrape time. Statistics and metrics cannot disagree: there is one bookkeeping.
 *
 * Keyed by name and version: a reload in place keeps counting; a version that leaves the
 * registry is forgotten the next time statistics are read.
 */
export class ModelStatistics {
  private readonly versions = new Map<string, VersionStatistics>();
  private readonly batches = new Map<string, Map<number, BatchStatistics>>();

  constructor(
    private readonly registry: Pick<ModelRegistry, 'all'>,
    private readonly observer?: InferenceObserver,
  ) {}

  /**
   * A request admitted to a version's queue was answered (or failed: an engine error, its
   * deadline or its client gone). Requests refused before admission never get here.
   */
  observeInference(event: InferenceEvent): void {
    const stats = this.of(event);
    stats.last_inference = Date.now();
    const { inference_stats: inference } = stats;
    if (event.ok) {
      add(inference.success, event.ns);
      stats.inference_count += event.instances;
      add(inference.queue, event.queueNs ?? 0);
      // Each request of a batch is charged the batch's compute time, as Triton does.
      if (event.compute) addCompute(inference, event.compute);
    } else {
      add(inference.fail, event.ns);
    }
    this.observer?.observeInference(event);
  }

  /** A batch was sent to a thread (the queue-wait and batch-size histograms). */
  observeBatch(event: BatchEvent): void {
    this.observer?.observeBatch(event);
  }

  /** A batch ran to the end. */
  observeExecution(event: ExecutionEvent): void {
    const stats = this.of(event);
    stats.execution_count++;
    const id = `${event.model}/${event.version}`;
    const sizes = this.batches.get(id) ?? new Map<number, BatchStatistics>();
    this.batches.set(id, sizes);
    const batch = sizes.get(event.rows) ?? {
      batch_size: event.rows,
      compute_input: zero(),
      compute_infer: zero(),
      compute_output: zero(),
    };
    sizes.set(event.rows, batch);
    addCompute(batch, event.compute);
  }

  /** Every loaded version, by name then version, zeros for one that has seen no traffic yet. */
  all(): VersionStatistics[] {
    const models = this.registry.all();
    this.forgetUnlisted(new Set(models.map(idOf)));
    return this.snapshot(models.filter((model) => LOADED.has(model.state)));
  }

  /** The statistics of these versions (resolved by the catalog), by name then version. */
  snapshot(models: Pick<ServedModel, 'name' | 'version'>[]): VersionStatistics[] {
    const ids = new Map(models.map((model) => [idOf(model), model]));
    return [...ids.values()]
      .map((model) => {
        const stats = this.versions.get(idOf(model)) ?? emptyStatistics(model.name, model.version);
        const sizes = [...(this.batches.get(idOf(model))?.values() ?? [])];
        return structuredClone({
          ...stats,
          batch_stats: sizes.sort((a, b) => a.batch_size - b.batch_size),
        });
      })
      .sort(byNameThenVersion);
  }

  private of(model: { model: string; version: number }): VersionStatistics {
    const id = `${model.model}/${model.version}`;
    let stats = this.versions.get(id);
    if (!stats) {
      stats = emptyStatistics(model.model, model.version);
      this.versions.set(id, stats);
    }
    return stats;
  }

  /** Versions no longer in the registry (unloaded, superseded, their folder removed) go. */
  private forgetUnlisted(tracked: ReadonlySet<string>): void {
    for (const id of this.versions.keys()) {
      if (!tracked.has(id)) {
        this.versions.delete(id);
        this.batches.delete(id);
      }
    }
  }
}
