import { Logger } from '@nestjs/common';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { ServingError } from '../../errors/serving-error';
import type { Tensor } from '../../tensor/tensor';
import {
  LoadReport,
  RunReport,
  ThreadHello,
  ThreadOptions,
  ThreadReply,
  ThreadRequest,
  ThreadStats,
} from './thread-protocol';
import { ThreadLifecycle, ThreadState } from './thread-state';
import { transferList } from './transfer';

/** How long a retired thread may take to free its models before it is cut. */
const RETIRE_TIMEOUT_MS = 5000;

type Pending = { resolve: (value: unknown) => void; reject: (error: Error) => void };
type WithoutId<T> = T extends unknown ? Omit<T, 'id'> : never;
type Call = WithoutId<ThreadRequest>;

/**
 * Starts the thread's script. Built code runs the compiled .js; under ts-node or Jest (the file is
 * .ts) the worker registers ts-node itself, transpile-only, so tests run the very same code.
 */
function spawn(options: ThreadOptions): Worker {
  const script = join(__dirname, `inference.worker${__filename.endsWith('.ts') ? '.ts' : '.js'}`);
  if (script.endsWith('.js')) return new Worker(script, { workerData: options });
  const bootstrap = `require('ts-node').register({ transpileOnly: true }); require(${JSON.stringify(script)});`;
  return new Worker(bootstrap, { eval: true, workerData: options });
}

/**
 * The main thread's handle on one inference thread: request/reply by id, its state (see
 * ThreadState), and how long it has been busy. When the thread dies every pending call is
 * rejected with UNAVAILABLE at once (never a hang) and `onExit` lets the pool replace it.
 */
export class InferenceThread {
  private readonly logger = new Logger('InferenceThread');
  /** The worker itself: its `threadId`, and `terminate()` for whoever must end it at once. */
  readonly worker: Worker;
  private readonly lifecycle: ThreadLifecycle;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private closed?: Promise<void>;
  backend = '';
  busySeconds = 0;
  /** Batches run here (inference_thread_batches_total). */
  batches = 0;
  /** The thread's memory after its last reply (exact whenever it is idle). */
  stats: ThreadStats = { tensors: 0, bytes: 0 };
  private busySince = 0;
  /** The batch running now: closing waits for it. */
  private running?: Promise<RunReport>;
  /** The thread started its runtime and answers calls (else there is nothing to finish). */
  private greeted = false;
  readonly started: Promise<void>;

  constructor(
    readonly index: number,
    options: ThreadOptions,
    onExit: (thread: InferenceThread, code: number) => void,
  ) {
    this.lifecycle = new ThreadLifecycle(`inference thread ${index}`);
    this.worker = spawn(options);
    // The HTTP server keeps the process alive; a thread alone must not (tests, failed boots).
    this.worker.unref();
    this.started = new Promise((resolve, reject) => {
      this.worker.once('message', (hello: ThreadHello) => {
        if (hello.hello) {
          this.greeted = true;
          this.backend = hello.backend;
          this.worker.on('message', (reply: ThreadReply) => this.settle(reply));
          resolve();
        } else reject(new Error(hello.error));
      });
      this.worker.once('exit', (code) =>
        reject(new Error(`inference thread ${index} exited with code ${code} while starting`)),
      );
    });
    this.worker.on('error', (error) =>
      this.logger.error(`Inference thread ${index} failed: ${error.message}`, error.stack),
    );
    this.worker.on('exit', (code) => {
      this.lifecycle.to('exited');
      const error = ServingError.unavailable(
        `inference thread ${index} stopped (exit code ${code}) while serving this request; it is being replaced, retry the request`,
      );
      this.pending.forEach(({ reject }) => reject(error));
      this.pending.clear();
      onExit(this, code);
    });
  }

  get state(): ThreadState {
    return this.lifecycle.state;
  }

  /** Started and trusted: a thread closing (retired, or shut down) is still running only to end. */
  get alive(): boolean {
    return this.lifecycle.alive;
  }

  /** Started and every served version loaded: takes batches (busy or idle). */
  get ready(): boolean {
    return this.lifecycle.serving;
  }

  /** A batch is running here; the scheduler sends at most one at a time. */
  get busy(): boolean {
    return this.lifecycle.state === 'busy';
  }

  /** It served once: its exit is a death to replace, not a failed boot. */
  get served(): boolean {
    return this.lifecycle.served;
  }

  /** Started: loading the served versions now, before it takes work. */
  loading(): void {
    this.lifecycle.to('loading');
  }

  /** Every served version loaded: it takes batches from now on. */
  serve(): void {
    this.lifecycle.to('idle');
  }

  private settle(reply: ThreadReply): void {
    const call = this.pending.get(reply.id);
    if (!call) return;
    this.pending.delete(reply.id);
    this.stats = reply.stats;
    // Before the caller hears of the error: the scheduler's next pick must not be this thread.
    if (!reply.ok && reply.fatal) this.retire(reply.error.message);
    if (reply.ok) call.resolve(reply.result);
    else call.reject(ServingError.fromData(reply.error));
  }

  /**
   * Takes the thread out of service at once (readiness counts it out too) and closes it; its
   * exit makes the pool start a replacement that reloads every served version. Closing, not
   * cutting: ONNX Runtime sessions in it are released cleanly.
   */
  private retire(reason: string): void {
    if (!this.alive) return;
    this.logger.error(
      `Inference thread ${this.index} hit a fatal engine error and is being replaced: ${reason}`,
    );
    void this.close(RETIRE_TIMEOUT_MS);
  }

  private call<T>(request: Call, transfer: ArrayBuffer[] = []): Promise<T> {
    if (this.state === 'exited') {
      return Promise.reject(
        ServingError.unavailable(`inference thread ${this.index} is not running`),
      );
    }
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (value: unknown) => void, reject });
      this.worker.postMessage({ ...request, id }, transfer);
    });
  }

  load(key: string, dir: string): Promise<LoadReport> {
    return this.call({ op: 'load', key, dir });
  }

  unload(key: string): Promise<boolean> {
    return this.call({ op: 'unload', key });
  }

  /** Runs one batch; the inputs' buffers are moved to the thread (do not use them afterwards). */
  async run(key: string, inputs: Tensor[]): Promise<RunReport> {
    this.lifecycle.to('busy');
    this.batches++;
    this.busySince = performance.now();
    try {
      this.running = this.call<RunReport>({ op: 'run', key, inputs }, transferList(inputs));
      return await this.running;
    } finally {
      this.running = undefined;
      this.busySeconds += (performance.now() - this.busySince) / 1000;
      // A thread retired by this very batch, or closed meanwhile, stays where it went.
      if (this.lifecycle.state === 'busy') this.lifecycle.to('idle');
    }
  }

  /** Busy seconds including a batch still running. */
  busyUntilNow(): number {
    return this.busySeconds + (this.busy ? (performance.now() - this.busySince) / 1000 : 0);
  }

  /** Waits for the running batch to end, saying so once it takes longer than `timeoutMs`. */
  private async finishRun(timeoutMs: number): Promise<void> {
    const timer = setTimeout(
      () =>
        this.logger.warn(
          `Inference thread ${this.index} is still running a batch after ${timeoutMs} ms; waiting for it to end (cutting it mid-run would abort the process)`,
        ),
      timeoutMs,
    );
    await this.running?.catch(() => undefined);
    clearTimeout(timer);
  }

  /**
   * Ends the thread cleanly: it finishes the batch it runs (its messages are handled in order),
   * frees its models, then stops. Cutting it mid-run instead aborts the whole process when the
   * run is ONNX Runtime's (its native code throws into a torn-down thread), so a running batch
   * is waited for however long it takes (on a loaded machine a 600-image batch outlasted the 5 s
   * this used to allow, and the process aborted). A thread that does not answer within
   * `timeoutMs` once idle is cut.
   */
  close(timeoutMs: number): Promise<void> {
    if (this.state === 'exited') return Promise.resolve();
    this.closed ??= this.end(timeoutMs);
    return this.closed;
  }

  private async end(timeoutMs: number): Promise<void> {
    this.lifecycle.to('closing');
    if (this.running) await this.finishRun(timeoutMs);
    if (this.greeted) {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)));
      await Promise.race([this.call({ op: 'close' }).catch(() => undefined), timeout]);
      clearTimeout(timer);
    }
    await this.worker.terminate();
  }
}
