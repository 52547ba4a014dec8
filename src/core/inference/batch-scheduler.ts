import type { RunTiming } from '../../engines/engine';
import { ServingError } from '../../errors/serving-error';
import type { Tensor } from '../../tensor/tensor';
import type { InferenceThread } from './inference-thread';
import { concatRows, sliceRows } from './tensor-rows';
import type { RunReport } from './thread-protocol';

export interface BatchOptions {
  /** Most rows one merged batch may hold (BATCH_MAX_SIZE); 1 turns merging off. */
  maxRows: number;
  /** Longest the oldest request waits for a fuller batch (BATCH_TIMEOUT_MS); 0 = never wait. */
  timeoutMs: number;
  /**
   * Batch sizes sent as soon as the queue holds enough rows for one, without waiting out
   * timeoutMs (Triton's preferred_batch_size); the largest that fits is taken.
   */
  preferredRows?: number[];
}

/** What the scheduler needs to know of a model version. */
export interface BatchTarget {
  key: string;
  name: string;
  version: number;
  /** Requests may be merged: batch-major at warm-up and not turned off in metadata.json. */
  batchable: boolean;
  /** This version's own batching (its model configuration); the scheduler's options otherwise. */
  batching?: BatchOptions;
}

/** One request's share of a batch run. */
export interface JobResult {
  outputs: Tensor[];
  /** Engine time of the whole batch the request ran in. */
  seconds: number;
  /** The same batch's engine time by phase. */
  compute: RunTiming;
  /** From the request's arrival in the queue to its batch being sent to a thread. */
  queueNs: number;
}

export interface BatchEvent {
  model: string;
  version: number;
  rows: number;
  /** Seconds each merged request waited in the queue. */
  waits: number[];
}

/** A batch the engine ran to the end (a failed run is not an execution). */
export interface ExecutionEvent {
  model: string;
  version: number;
  rows: number;
  compute: RunTiming;
}

/** Where batches run: an idle thread when there is one. */
export interface ThreadSource {
  /** An idle thread holding this version (a model may be held by only some threads). */
  idleThread(key: string): Pick<InferenceThread, 'run'> | undefined;
  /** Threads that can take batches, idle or busy: a batch takes its fair share of the queue. */
  readonly size: number;
  /** Threads holding this version that can take its batches, when not every thread holds it. */
  holding?(key: string): number;
  /** Why no thread will ever take a batch of this version again: its queue is refused then. */
  unavailable?(key: string): string | undefined;
}

interface Job {
  target: BatchTarget;
  inputs: Tensor[];
  rows: number;
  /** Requests merge only when every input's inner dimensions and dtype are the same. */
  shape: string;
  enqueuedAt: number;
  signal?: AbortSignal;
  resolve: (result: JobResult) => void;
  reject: (error: Error) => void;
  detach: () => void;
}

/** Rows of a request, or undefined when its inputs disagree (such a request never merges). */
function rowsOf(inputs: Tensor[]): number | undefined {
  const rows = inputs[0]?.shape[0];
  return inputs.every((t) => t.shape.length > 0 && t.shape[0] === rows) ? rows : undefined;
}

/**
 * Dynamic batching per model version, Triton's default dynamic batcher in spirit: requests wait
 * in their version's queue; whenever a thread is idle it gets the queue whose oldest request has
 * waited longest, as many compatible requests as fit in maxRows merged into one run, and the
 * outputs are split back per request in order. A request whose client left (or whose deadline
 * passed) is dropped from the queue before it runs.
 */
export class BatchScheduler {
  private readonly queues = new Map<string, Job[]>();
  private wakeTimer?: NodeJS.Timeout;
  /** When wakeTimer fires (performance.now() time): an earlier deadline replaces it. */
  private wakeTime = Infinity;

  constructor(
    private readonly threads: ThreadSource,
    private readonly options: BatchOptions,
    private readonly onBatch: (event: BatchEvent) => void = () => undefined,
    private readonly onExecution: (event: ExecutionEvent) => void = () => undefined,
  ) {}

  submit(target: BatchTarget, inputs: Tensor[], signal?: AbortSignal): Promise<JobResult> {
    if (signal?.aborted) return Promise.reject(cancelled(signal));
    return new Promise<JobResult>((resolve, reject) => {
      const rows = rowsOf(inputs);
      const job: Job = {
        target,
        inputs,
        rows: rows ?? inputs[0]?.shape[0] ?? 1,
        shape:
          target.batchable && rows !== undefined
            ? inputs.map((t) => `${t.dtype}[${t.shape.slice(1).join(',')}]`).join('|')
            : 'alone',
        enqueuedAt: performance.now(),
        signal,
        resolve,
        reject,
        detach: () => undefined,
      };
      this.watch(job);
      const queue = this.queues.get(target.key) ?? [];
      queue.push(job);
      this.queues.set(target.key, queue);
      this.pump();
    });
  }

  /** While queued, a request whose client leaves (or whose deadline passes) is dropped. */
  private watch(job: Job): void {
    const { signal } = job;
    if (!signal) return;
    const onAbort = () => this.drop(job, cancelled(signal));
    signal.addEventListener('abort', onAbort, { once: true });
    job.detach = () => signal.removeEventListener('abort', onAbort);
  }

  /** Requests waiting per version key (the queue-depth gauge). */
  depths(): Map<string, { target: BatchTarget; requests: number }> {
    const depths = new Map<string, { target: BatchTarget; requests: number }>();
    for (const [key, queue] of this.queues) {
      if (queue.length > 0) depths.set(key, { target: queue[0].target, requests: queue.length });
    }
    return depths;
  }

  /** Sends batches while due requests have an idle thread holding their version. */
  pump(): void {
    this.refuseUnavailable();
    for (;;) {
      const next = this.nextBatch();
      if (!next) return;
      this.dispatch(next.thread, next.batch);
    }
  }

  /** Refuses every queued request of a version that will not run again (no thread can load it). */
  discard(key: string, error: Error): void {
    const queue = this.queues.get(key) ?? [];
    this.queues.delete(key);
    queue.forEach((job) => {
      job.detach();
      job.reject(error);
    });
  }

  /** Never a hang: a version no thread will ever run again would leave its queue unanswered. */
  private refuseUnavailable(): void {
    for (const key of [...this.queues.keys()]) {
      const reason = this.threads.unavailable?.(key);
      if (reason !== undefined) this.discard(key, ServingError.unavailable(reason));
    }
  }

  private optionsOf(target: BatchTarget): BatchOptions {
    return target.batching ?? this.options;
  }

  private drop(job: Job, error: Error): void {
    const queue = this.queues.get(job.target.key);
    const at = queue?.indexOf(job) ?? -1;
    if (at < 0) return; // already running: its answer will simply not be sent
    queue!.splice(at, 1);
    job.reject(error);
  }

  /** Rows queued that could merge with the head request. */
  private static compatibleRows(queue: Job[]): number {
    const { shape } = queue[0];
    return queue.reduce((n, job) => (job.shape === shape ? n + job.rows : n), 0);
  }

  /**
   * Whether the head request goes now: it never merges, nothing waits (timeoutMs 0), it has
   * waited timeoutMs, or enough rows are queued for a full or a preferred batch.
   */
  private isDue(queue: Job[], now: number): boolean {
    const [head] = queue;
    const { maxRows, timeoutMs, preferredRows = [] } = this.optionsOf(head.target);
    if (head.shape === 'alone' || !head.target.batchable || maxRows <= 1 || timeoutMs === 0) {
      return true;
    }
    if (now - head.enqueuedAt >= timeoutMs) return true;
    const rows = BatchScheduler.compatibleRows(queue);
    return rows >= maxRows || preferredRows.some((size) => rows >= size);
  }

  /**
   * The due queue whose oldest request waited longest among those with an idle thread holding
   * their version, and that thread; sets the wake-up for queues still waiting for a fuller batch.
   */
  private nextBatch(): { thread: Pick<InferenceThread, 'run'>; batch: Job[] } | undefined {
    const now = performance.now();
    const due: Job[][] = [];
    let wakeAt = Infinity;
    for (const queue of this.queues.values()) {
      if (queue.length === 0) continue;
      if (this.isDue(queue, now)) due.push(queue);
      else
        wakeAt = Math.min(wakeAt, queue[0].enqueuedAt + this.optionsOf(queue[0].target).timeoutMs);
    }
    if (wakeAt < Infinity) this.wakeAt(wakeAt);
    due.sort((a, b) => a[0].enqueuedAt - b[0].enqueuedAt);
    for (const queue of due) {
      const thread = this.threads.idleThread(queue[0].target.key);
      if (thread) return { thread, batch: this.take(queue) };
    }
    return undefined;
  }

  /** Pumps again at `time` (performance.now() time), or earlier if already set to. */
  private wakeAt(time: number): void {
    if (this.wakeTimer && this.wakeTime <= time) return;
    clearTimeout(this.wakeTimer);
    this.wakeTime = time;
    this.wakeTimer = setTimeout(
      () => {
        this.wakeTimer = undefined;
        this.wakeTime = Infinity;
        this.pump();
      },
      Math.max(0, Math.ceil(time - performance.now())),
    );
    // Whoever waits for the batch holds the process open (a socket); the timer alone must not, or
    // a closed app lingers up to BATCH_TIMEOUT_MS after its last request left.
    this.wakeTimer.unref();
  }

  /**
   * The head request and every later compatible one that still fits, in queue order, up to the
   * batch limit (rowLimit).
   */
  private take(queue: Job[]): Job[] {
    const options = this.optionsOf(queue[0].target);
    const limit = this.rowLimit(queue, options);
    const head = queue.shift()!;
    const batch = [head];
    if (head.shape === 'alone' || options.maxRows <= 1) return batch;
    let rows = head.rows;
    for (let i = 0; i < queue.length && rows < limit;) {
      const job = queue[i];
      if (job.shape === head.shape && rows + job.rows <= limit) {
        batch.push(job);
        rows += job.rows;
        queue.splice(i, 1);
      } else i++;
    }
    return batch;
  }

  /**
   * Rows the next batch of this queue may hold. A version with its own batching (a model
   * configuration) gets Triton's batches: the largest preferred size the queue fills, else as
   * many rows as fit in maxRows. On the server's options, at most its share of the compatible
   * queue (rows / threads holding the version): the first thread to free up used to take all 16
   * queued requests of 16 clients while the other thread, done a moment later, found the queue
   * empty and idled, so two threads served hardly more than one.
   */
  private rowLimit(queue: Job[], { maxRows, preferredRows = [] }: BatchOptions): number {
    const head = queue[0];
    const queued = BatchScheduler.compatibleRows(queue);
    const fitting = preferredRows.filter((size) => size <= Math.min(queued, maxRows));
    if (fitting.length > 0) return Math.max(head.rows, ...fitting);
    if (head.target.batching) return maxRows;
    const threads = this.threads.holding?.(head.target.key) ?? this.threads.size;
    const share = Math.ceil(queued / Math.max(1, threads));
    return Math.min(maxRows, Math.max(head.rows, share));
  }

  private dispatch(thread: Pick<InferenceThread, 'run'>, batch: Job[]): void {
    const { target } = batch[0];
    const now = performance.now();
    batch.forEach((job) => job.detach());
    const inputs =
      batch.length === 1
        ? batch[0].inputs
        : batch[0].inputs.map((_, i) => concatRows(batch.map((job) => job.inputs[i])));
    const rows = batch.reduce((n, job) => n + job.rows, 0);
    this.onBatch({
      model: target.name,
      version: target.version,
      rows,
      waits: batch.map((job) => (now - job.enqueuedAt) / 1000),
    });
    thread
      .run(target.key, inputs)
      .then(
        (report) => {
          // Counted before any request of the batch is answered: a client reading the
          // statistics after its answer finds its batch there.
          this.onExecution({
            model: target.name,
            version: target.version,
            rows,
            compute: report.compute,
          });
          this.split(batch, report, now);
        },
        (error: Error) => (batch.length === 1 ? batch[0].reject(error) : this.isolate(batch)),
      )
      .finally(() => this.pump());
  }

  /**
   * A merged batch failed: which request caused it is unknown, and the others must not pay for
   * it. Each request runs again on its own, first in line (they keep their arrival time), so
   * only the one that fails alone gets an error, with the engine's reason for its own input.
   * One by one rather than bisecting: when the failure was fatal (its thread is being replaced),
   * bisecting would kill a thread per halving, one by one kills exactly one more. The requests'
   * own buffers are intact: the merged run got a copy.
   */
  private isolate(batch: Job[]): void {
    const queue = this.queues.get(batch[0].target.key) ?? [];
    const retried = batch.flatMap((job) => {
      if (job.signal?.aborted) {
        job.reject(cancelled(job.signal));
        return [];
      }
      job.shape = 'alone';
      this.watch(job);
      return [job];
    });
    queue.unshift(...retried);
    this.queues.set(batch[0].target.key, queue);
  }

  private split(batch: Job[], { outputs, seconds, compute }: RunReport, sentAt: number): void {
    const share = (job: Job, outputs: Tensor[]): JobResult => ({
      outputs,
      seconds,
      compute,
      queueNs: Math.round((sentAt - job.enqueuedAt) * 1e6),
    });
    if (batch.length === 1) return batch[0].resolve(share(batch[0], outputs));
    let start = 0;
    for (const job of batch) {
      job.resolve(
        share(
          job,
          outputs.map((t) => sliceRows(t, start, job.rows)),
        ),
      );
      start += job.rows;
    }
  }
}

function cancelled(signal: AbortSignal): ServingError {
  const reason: unknown = signal.reason;
  return reason instanceof ServingError
    ? reason
    : new ServingError('CANCELLED', 'the client closed the connection before the answer');
}
