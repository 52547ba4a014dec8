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
}

/** What the scheduler needs to know of a model version. */
export interface BatchTarget {
  key: string;
  name: string;
  version: number;
  /** Requests may be merged: batch-major at warm-up and not turned off in metadata.json. */
  batchable: boolean;
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
  idleThread(): Pick<InferenceThread, 'run'> | undefined;
  /** Threads that can take batches, idle or busy: a batch takes its fair share of the queue. */
  readonly size: number;
  /** Why no thread will ever take a batch again, if so: queued requests are refused then. */
  unavailable?(): string | undefined;
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

  /** Sends batches while there are idle threads and due requests. */
  pump(): void {
    for (;;) {
      const thread = this.threads.idleThread();
      if (!thread) return this.refuseAllIf(this.threads.unavailable?.());
      const batch = this.nextBatch();
      if (!batch) return;
      this.dispatch(thread, batch);
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

  /** Never a hang: with no thread left, nothing queued would ever be answered. */
  private refuseAllIf(reason: string | undefined): void {
    if (reason === undefined) return;
    for (const key of [...this.queues.keys()]) this.discard(key, ServingError.unavailable(reason));
  }

  private drop(job: Job, error: Error): void {
    const queue = this.queues.get(job.target.key);
    const at = queue?.indexOf(job) ?? -1;
    if (at < 0) return; // already running: its answer will simply not be sent
    queue!.splice(at, 1);
    job.reject(error);
  }

  private isDue(queue: Job[], now: number): boolean {
    const [head] = queue;
    const { maxRows, timeoutMs } = this.options;
    if (head.shape === 'alone' || !head.target.batchable || maxRows <= 1 || timeoutMs === 0) {
      return true;
    }
    if (now - head.enqueuedAt >= timeoutMs) return true;
    const rows = queue.filter((j) => j.shape === head.shape).reduce((n, j) => n + j.rows, 0);
    return rows >= maxRows;
  }

  private nextBatch(): Job[] | undefined {
    const now = performance.now();
    let oldest: Job[] | undefined;
    let wakeAt = Infinity;
    for (const queue of this.queues.values()) {
      if (queue.length === 0) continue;
      if (!this.isDue(queue, now)) {
        wakeAt = Math.min(wakeAt, queue[0].enqueuedAt + this.options.timeoutMs);
      } else if (!oldest || queue[0].enqueuedAt < oldest[0].enqueuedAt) {
        oldest = queue;
      }
    }
    if (!oldest) {
      if (wakeAt < Infinity) this.wakeAt(wakeAt - now);
      return undefined;
    }
    return this.take(oldest);
  }

  private wakeAt(delayMs: number): void {
    if (this.wakeTimer) return;
    this.wakeTimer = setTimeout(
      () => {
        this.wakeTimer = undefined;
        this.pump();
      },
      Math.max(0, Math.ceil(delayMs)),
    );
    // Whoever waits for the batch holds the process open (a socket); the timer alone must not, or
    // a closed app lingers up to BATCH_TIMEOUT_MS after its last request left.
    this.wakeTimer.unref();
  }

  /**
   * The head request and every later compatible one that still fits, in queue order. A batch
   * takes at most its share of the compatible queue (rows / threads): the first thread to free up
   * used to take all 16 queued requests of 16 clients while the other thread, done a moment
   * later, found the queue empty and idled, so two threads served hardly more than one.
   */
  private take(queue: Job[]): Job[] {
    const head = queue.shift()!;
    const batch = [head];
    if (head.shape === 'alone' || this.options.maxRows <= 1) return batch;
    const queued = queue.reduce((n, job) => (job.shape === head.shape ? n + job.rows : n), 0);
    const share = Math.ceil((head.rows + queued) / Math.max(1, this.threads.size));
    const limit = Math.min(this.options.maxRows, Math.max(head.rows, share));
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
