import { Injectable, OnApplicationBootstrap } from '@nestjs/common';
import cluster from 'node:cluster';
import type { Request, Response } from 'express';
import {
  collectDefaultMetrics,
  Counter,
  Gauge,
  Histogram,
  LabelValues,
  MetricObjectWithValues,
  MetricValue,
  Registry,
} from 'prom-client';
import { DRAIN_OUTCOMES, DrainOutcome } from '../core/lifecycle/drain-outcome';
import { LifecycleService } from '../core/lifecycle/lifecycle.service';
import { DECODE_OUTCOMES, DecodeOutcome, ImageObserver } from '../image/image-observer';
import type { BatchEvent } from '../core/inference/batch-scheduler';
import {
  InferenceEvent,
  InferenceObserver,
  ModelRuntimeStats,
} from '../core/inference/inference-observer';
import type { VersionStatistics } from '../core/inference/model-statistics';
import { ServingError } from '../errors/serving-error';
import { THREAD_STATES } from '../core/inference/thread-state';
import { ENGINES } from '../engines/registry';
import { tfjsEngine } from '../engines/tfjs/tfjs.descriptor';
import { answerClusterCollects, scrapeCluster } from './cluster-metrics';
import { answeredStatus, RequestInfo } from './request-context';
import { routeOf } from './route-label';

const HTTP_LABELS = ['method', 'route', 'model', 'version', 'status'] as const;
const GRPC_LABELS = ['method', 'model', 'version', 'code'] as const;
const MODEL_LABELS = ['model', 'version'] as const;
/** Versions that have loaded, and so a load time. */
const LOADED = new Set(['AVAILABLE', 'UNLOADING']);

/**
 * Every Prometheus metric of the server, in a registry of its own per app (not prom-client's
 * global one), so several apps in one test process never collide. Gauges about models and TF.js
 * memory are read at scrape time from a stats source (ModelService.runtimeStats).
 */
/** Request latency buckets, the same for every protocol so their histograms compare. */
const REQUEST_SECONDS_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

@Injectable()
export class MetricsService
  extends InferenceObserver
  implements ImageObserver, OnApplicationBootstrap
{
  readonly registry = new Registry();
  private statsSource?: () => ModelRuntimeStats;
  /** Busy seconds and wall time of each thread at the previous scrape, for the busy ratio. */
  private lastBusy = new Map<number, { busy: number; at: number }>();
  private stats?: ModelRuntimeStats;
  /** Versions with series in the families below, by "model/version", until they are retired. */
  private readonly versionsSeen = new Map<string, { model: string; version: string }>();

  private readonly httpRequests = new Counter({
    name: 'http_requests_total',
    help: 'HTTP requests answered, by route pattern, model, version and status code',
    labelNames: HTTP_LABELS,
    registers: [this.registry],
  });

  private readonly httpDuration = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'Time from the first byte of a request to the end of its answer',
    labelNames: HTTP_LABELS,
    buckets: REQUEST_SECONDS_BUCKETS,
    registers: [this.registry],
  });

  private readonly grpcRequests = new Counter({
    name: 'grpc_requests_total',
    help: 'gRPC calls answered (each message of a stream counts as one), by method, model, version and status code',
    labelNames: GRPC_LABELS,
    registers: [this.registry],
  });

  private readonly grpcDuration = new Histogram({
    name: 'grpc_request_duration_seconds',
    help: 'Time from the arrival of a gRPC call (or stream message) to its answer',
    labelNames: GRPC_LABELS,
    buckets: REQUEST_SECONDS_BUCKETS,
    registers: [this.registry],
  });

  private readonly queueWait = new Histogram({
    name: 'model_queue_wait_seconds',
    help: 'Time a request waited in its model version queue before its batch was sent to a thread',
    labelNames: MODEL_LABELS,
    buckets: [0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [this.registry],
  });

  private readonly batchRows = new Histogram({
    name: 'model_batch_rows',
    help: 'Rows per executed batch (requests merged by dynamic batching)',
    labelNames: MODEL_LABELS,
    buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024],
    registers: [this.registry],
  });

  private readonly inferenceDuration = new Histogram({
    name: 'model_inference_duration_seconds',
    help: 'Engine time of the batch each request ran in: input tensors built, model run, outputs read back',
    labelNames: MODEL_LABELS,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [this.registry],
  });

  private readonly inferenceInstances = new Histogram({
    name: 'model_inference_instances',
    help: 'Instances (batch size) per inference',
    labelNames: MODEL_LABELS,
    buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096],
    registers: [this.registry],
  });

  private readonly imageDecodes = new Counter({
    name: 'image_decodes_total',
    help: 'Images whose header passed the limits, by outcome: ok (decoded), failed (libvips refused it), skipped (never decoded: the client left, the deadline passed or another image of the request failed)',
    labelNames: ['outcome'],
    registers: [this.registry],
  });
  private readonly drainedRequests = new Counter({
    name: 'http_drained_requests_total',
    help: 'Model-bound requests that ended while draining after SIGTERM/SIGINT, by outcome: answered, refused (503), client_closed (the client left first), cut (unanswered at SHUTDOWN_TIMEOUT_MS)',
    labelNames: ['outcome'],
    registers: [this.registry],
  });

  /** The families labelled with a model version: a retired version's series leave them all. */
  private readonly versionFamilies: (Counter<string> | Histogram<string>)[] = [
    this.httpRequests,
    this.httpDuration,
    this.grpcRequests,
    this.grpcDuration,
    this.queueWait,
    this.batchRows,
    this.inferenceDuration,
    this.inferenceInstances,
  ];

  constructor(private readonly lifecycle: LifecycleService) {
    super();
    collectDefaultMetrics({ register: this.registry });
    DECODE_OUTCOMES.forEach((outcome) => this.imageDecodes.inc({ outcome }, 0));
    DRAIN_OUTCOMES.forEach((outcome) => this.drainedRequests.inc({ outcome }, 0));
    const stats = () => this.stats;
    // One series per version the registry holds, valued by `value` (none where it is undefined).
    // Every cluster worker loads every version: the highest worker's value, not their sum.
    const versionGauge = (
      name: string,
      help: string,
      value: (m: ModelRuntimeStats['models'][number]) => number | undefined,
    ) =>
      new Gauge({
        name,
        help,
        labelNames: MODEL_LABELS,
        registers: [this.registry],
        aggregator: 'max',
        collect() {
          this.reset();
          for (const m of stats()?.models ?? []) {
            const v = value(m);
            if (v !== undefined) this.set({ model: m.name, version: String(m.version) }, v);
          }
        },
      });
    // The request counters read the core's statistics (GET /v2/models/stats) at scrape time: one
    // set of counters, so the two always agree.
    const statisticsCounter = (
      name: string,
      help: string,
      labelNames: readonly string[],
      values: (s: VersionStatistics) => [Record<string, string>, number][],
    ) =>
      new Counter({
        name,
        help,
        labelNames,
        registers: [this.registry],
        collect() {
          this.reset();
          for (const version of stats()?.statistics ?? []) {
            const labels = { model: version.name, version: String(version.version) };
            for (const [extra, value] of values(version)) this.inc({ ...labels, ...extra }, value);
          }
        },
      });
    statisticsCounter(
      'model_inference_total',
      "Requests admitted to a model version's queue, by outcome: ok (answered) or error (engine error, deadline passed, client gone); the statistics' success and fail counts",
      [...MODEL_LABELS, 'outcome'],
      ({ inference_stats: { success, fail } }) => [
        [{ outcome: 'ok' }, success.count],
        [{ outcome: 'error' }, fail.count],
      ],
    );
    statisticsCounter(
      'model_inference_rows_total',
      "Rows (instances) answered successfully; the statistics' inference_count",
      MODEL_LABELS,
      (version) => [[{}, version.inference_count]],
    );
    statisticsCounter(
      'model_executions_total',
      "Batches the engine ran to the end, requests merged into one counting once; the statistics' execution_count",
      MODEL_LABELS,
      (version) => [[{}, version.execution_count]],
    );
    versionGauge(
      'model_load_duration_seconds',
      'Time the last load of each model version took (read from disk and deserialised, before warm-up); failed loads have no series (see model_load_failed)',
      (m) => (LOADED.has(m.state) ? m.loadSeconds : undefined),
    );
    versionGauge(
      'model_load_failed',
      '1 for each model version whose last load failed (listed as failed in the model status); gone once it loads or leaves the repository',
      (m) => (m.state === 'END' ? 1 : undefined),
    );
    new Gauge({
      name: 'models_loaded',
      help: 'Model versions in the registry, by lifecycle state',
      labelNames: ['state'],
      registers: [this.registry],
      // Each cluster worker holds the same versions: a sum would count each one once per worker.
      aggregator: 'max',
      collect() {
        this.reset();
        for (const state of ['LOADING', 'AVAILABLE', 'UNLOADING']) this.set({ state }, 0);
        stats()?.models.forEach((m) => this.inc({ state: m.state }));
      },
    });
    new Gauge({
      name: 'model_queue_depth',
      help: 'Requests waiting in each model version queue',
      labelNames: MODEL_LABELS,
      registers: [this.registry],
      collect() {
        this.reset();
        stats()?.queues.forEach((q) =>
          this.set({ model: q.name, version: String(q.version) }, q.requests),
        );
      },
    });
    const busyRatios = () => this.busyRatios();
    new Gauge({
      name: 'inference_thread_busy_ratio',
      help: 'Share of the time since the previous scrape each inference thread spent running batches',
      labelNames: ['thread'],
      registers: [this.registry],
      // Thread i exists in every cluster worker: their mean stays a share between 0 and 1.
      aggregator: 'average',
      collect() {
        this.reset();
        busyRatios().forEach((ratio, thread) => this.set({ thread: String(thread) }, ratio));
      },
    });
    const engineStats = (id: string) => stats()?.engines[id] ?? { tensors: 0, bytes: 0 };
    // Every engine of the registry has a series, 0 until a thread creates it.
    new Gauge({
      name: 'engine_objects',
      help: 'What each engine holds, summed over the inference threads: TF.js tensors, ONNX Runtime sessions (a number that grows under steady load is a leak)',
      labelNames: ['engine'],
      registers: [this.registry],
      collect() {
        for (const { id } of ENGINES) this.set({ engine: id }, engineStats(id).tensors);
      },
    });
    new Gauge({
      name: 'engine_bytes',
      help: 'Bytes each engine holds, summed over the inference threads: TF.js tensor bytes, ONNX model file bytes per session',
      labelNames: ['engine'],
      registers: [this.registry],
      collect() {
        for (const { id } of ENGINES) this.set({ engine: id }, engineStats(id).bytes);
      },
    });
    // The names dashboards already use; TF.js alone (ONNX Runtime is under engine_objects).
    new Gauge({
      name: 'inference_threads',
      help: 'Inference threads by state: starting, loading (a replacement reloading the served versions), idle, busy, closing, exited (one that could not start and was given up)',
      labelNames: ['state'],
      registers: [this.registry],
      collect() {
        this.reset();
        THREAD_STATES.forEach((state) => this.set({ state }, 0));
        stats()?.threads.forEach((thread) => this.inc({ state: thread.state }));
      },
    });
    new Counter({
      name: 'inference_thread_replacements_total',
      help: 'Inference threads started to replace one that died, was retired after a fatal engine error, or could not boot',
      registers: [this.registry],
      collect() {
        this.reset();
        this.inc(stats()?.threadReplacements ?? 0);
      },
    });
    new Gauge({
      name: 'tfjs_num_tensors',
      help: 'Tensors allocated by TF.js, summed over the inference threads (a number that grows under steady load is a leak)',
      registers: [this.registry],
      collect() {
        this.set(engineStats(tfjsEngine.id).tensors);
      },
    });
    new Gauge({
      name: 'tfjs_num_bytes',
      help: 'Bytes held by TF.js tensors, summed over the inference threads',
      registers: [this.registry],
      collect() {
        this.set(engineStats(tfjsEngine.id).bytes);
      },
    });
    new Gauge({
      name: 'http_requests_in_flight',
      help: 'Requests that can reach a model being served now, uploads in progress included',
      registers: [this.registry],
      collect() {
        this.set(lifecycle.modelInflight);
      },
    });
    new Gauge({
      name: 'http_requests_admitted',
      help: 'Requests whose body has arrived and that are not answered yet (counted against MAX_INFLIGHT)',
      registers: [this.registry],
      collect() {
        this.set(lifecycle.admitted);
      },
    });
    new Gauge({
      name: 'http_uploads_in_progress',
      help: 'Requests whose body is still arriving (counted against MAX_UPLOADS)',
      registers: [this.registry],
      collect() {
        this.set(lifecycle.uploads);
      },
    });
  }

  /**
   * A cluster worker joins the primary's scrapes once its models are loaded (before it listens):
   * until then it has served nothing, and its model layer cannot be read yet.
   */
  onApplicationBootstrap(): void {
    if (cluster.isWorker) answerClusterCollects(() => this.collectJson());
  }

  /** Where model and TF.js gauges come from (ModelService.runtimeStats), read once per scrape. */
  setStatsSource(source: () => ModelRuntimeStats): void {
    this.statsSource = source;
  }

  /** The text of GET /metrics: this process's, or in a cluster every worker's added up. */
  async render(): Promise<string> {
    if (cluster.isWorker) {
      return scrapeCluster().catch((error: Error) => {
        throw ServingError.unavailable(
          `Cannot gather the metrics of every worker: ${error.message}`,
        );
      });
    }
    await this.refresh();
    return this.registry.metrics();
  }

  /** The registry as JSON, for the cluster primary to add up with the other workers'. */
  async collectJson(): Promise<MetricObjectWithValues<MetricValue<string>>[]> {
    await this.refresh();
    return this.registry.getMetricsAsJSON();
  }

  /** Reads the model layer once for this scrape's gauges, and drops retired versions' series. */
  private async refresh(): Promise<void> {
    this.stats = this.statsSource?.();
    if (!this.stats) return;
    const tracked = new Set(this.stats.models.map((m) => `${m.name}/${m.version}`));
    for (const [id, version] of this.versionsSeen) {
      if (tracked.has(id)) continue;
      this.versionsSeen.delete(id);
      await this.removeVersion(version);
    }
  }

  /**
   * Removes every series of a version that left the registry (retired by a hot swap, or its folder
   * removed), so the families do not grow with each version ever served. At scrape time rather
   * than when it is retired: a request that ends just after (its HTTP series) is removed too.
   */
  private async removeVersion(version: { model: string; version: string }): Promise<void> {
    for (const family of this.versionFamilies) {
      const { values } = await family.get();
      const series = new Map<string, LabelValues<string>>();
      for (const { labels } of values) {
        if (labels.model !== version.model || labels.version !== version.version) continue;
        const own = { ...labels };
        delete own.le; // a histogram's buckets are one series
        series.set(JSON.stringify(own), own);
      }
      series.forEach((labels) => family.remove(labels));
    }
  }

  private seen(model: string, version: string): void {
    this.versionsSeen.set(`${model}/${version}`, { model, version });
  }

  /** Busy share of each thread since the previous scrape (since start at the first). */
  private busyRatios(): Map<number, number> {
    const now = performance.now();
    const ratios = new Map<number, number>();
    for (const thread of this.stats?.threads ?? []) {
      const last = this.lastBusy.get(thread.index) ?? { busy: 0, at: 0 };
      const busy = Math.max(0, thread.busySeconds - last.busy);
      const wall = (now - last.at) / 1000;
      ratios.set(thread.index, wall > 0 ? Math.min(1, busy / wall) : 0);
      this.lastBusy.set(thread.index, { busy: thread.busySeconds, at: now });
    }
    return ratios;
  }

  observeBatch(event: BatchEvent): void {
    const labels = { model: event.model, version: String(event.version) };
    this.seen(labels.model, labels.version);
    this.batchRows.observe(labels, event.rows);
    event.waits.forEach((seconds) => this.queueWait.observe(labels, seconds));
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  observeInference(event: InferenceEvent): void {
    const labels = { model: event.model, version: String(event.version) };
    this.seen(labels.model, labels.version);
    if (!event.ok) return;
    this.inferenceDuration.observe(labels, event.seconds);
    this.inferenceInstances.observe(labels, event.instances);
  }

  observeDecodes(outcome: DecodeOutcome, images: number): void {
    this.imageDecodes.inc({ outcome }, images);
  }

  observeDrainedRequest(outcome: DrainOutcome): void {
    this.drainedRequests.inc({ outcome });
  }

  /** Records one finished (or abandoned) request. */
  observeRequest(req: Request, res: Response, info: RequestInfo): void {
    const labels = {
      method: req.method,
      route: routeOf(req, res),
      model: info.model ?? '',
      version: info.version ?? '',
      status: String(answeredStatus(res)),
    };
    const seconds = Number(process.hrtime.bigint() - info.startedAt) / 1e9;
    if (info.model && info.version) this.seen(info.model, info.version);
    this.httpRequests.inc(labels);
    this.httpDuration.observe(labels, seconds);
  }

  /** Records one answered gRPC call (or stream message); `code` is the gRPC status name (OK, ...). */
  observeGrpcCall(method: string, code: string, info: RequestInfo): void {
    const labels = { method, model: info.model ?? '', version: info.version ?? '', code };
    const seconds = Number(process.hrtime.bigint() - info.startedAt) / 1e9;
    if (info.model && info.version) this.seen(info.model, info.version);
    this.grpcRequests.inc(labels);
    this.grpcDuration.observe(labels, seconds);
  }
}
