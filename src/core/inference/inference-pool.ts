import { Logger } from '@nestjs/common';
import type { ModelSignature } from '../../tensor/signature';
import { InferenceError } from '../../errors/inference-error';
import { InferenceThread } from './inference-thread';
import type { LoadReport, ThreadOptions, ThreadStats } from './thread-protocol';

export interface PoolOptions extends ThreadOptions {
  threads: number;
}

/** Per-thread numbers read at scrape time. */
export interface ThreadSnapshot extends ThreadStats {
  index: number;
  busySeconds: number;
  busy: boolean;
  ready: boolean;
}

/**
 * How long closing waits for an idle thread to free its models before cutting it; after the HTTP
 * drain, so short. A running batch (one whose request was already answered: timed out or its
 * client gone) is always waited for: see InferenceThread.close.
 */
const CLOSE_TIMEOUT_MS = 5000;

const sameSignature = (a: ModelSignature, b: ModelSignature) =>
  JSON.stringify(a) === JSON.stringify(b);

/**
 * INFERENCE_THREADS worker threads, each holding every served model version. Loads and unloads
 * go to every thread; batches go to one idle thread at a time (the scheduler picks). A thread
 * that dies is replaced and reloads every served version before it takes work again.
 *
 * Not piscina or tinypool: their workers are interchangeable task runners, while this pool needs
 * per-thread state (every thread holds the same models, loaded and unloaded by broadcast),
 * knowing which thread is idle so the batcher can fill it, and reloading a replaced thread.
 */
export class InferencePool {
  private readonly logger = new Logger('InferencePool');
  private readonly threads: InferenceThread[] = [];
  /** Every version all threads hold, by key: what a replacement thread must load. */
  private readonly served = new Map<string, string>();
  private closing = false;
  /** Threads started to replace one that died or was retired (the poisoned-thread test reads it). */
  replacements = 0;
  /** Called whenever a thread may have become idle (a batch ended, a thread got ready). */
  onIdle: () => void = () => undefined;

  constructor(private readonly options: PoolOptions) {}

  /** Starts every thread; rejects (boot fails) when a thread cannot start its backend. */
  async start(): Promise<string> {
    for (let i = 0; i < this.options.threads; i++) this.threads.push(this.spawn(i));
    await Promise.all(this.threads.map((t) => t.started));
    this.threads.forEach((t) => (t.ready = true));
    return this.threads[0].backend;
  }

  private spawn(index: number): InferenceThread {
    return new InferenceThread(index, this.options, (thread, code) => this.replace(thread, code));
  }

  private replace(dead: InferenceThread, code: number): void {
    if (this.closing) return;
    this.logger.warn(
      `Inference thread ${dead.index} stopped (exit code ${code}); starting a replacement`,
    );
    const thread = this.spawn(dead.index);
    this.replacements++;
    this.threads[this.threads.indexOf(dead)] = thread;
    void (async () => {
      await thread.started;
      for (const [key, dir] of this.served) await thread.load(key, dir);
      thread.ready = true;
      this.logger.log(
        `Inference thread ${thread.index} replaced; ${this.served.size} version(s) reloaded`,
      );
      this.onIdle();
    })().catch((error: Error) => {
      this.logger.error(`Replacement of inference thread ${dead.index} failed: ${error.message}`);
      void thread.terminate();
    });
  }

  /** Threads able to take a batch right now. */
  idleThread(): InferenceThread | undefined {
    return this.threads.find((t) => t.ready && !t.busy && t.alive);
  }

  /** Whether any thread can serve (readiness stays up while others replace a dead one). */
  get serving(): boolean {
    return this.threads.some((t) => t.ready && t.alive);
  }

  /** Threads that take batches now, busy or idle (the scheduler shares its queue among them). */
  get size(): number {
    return this.threads.filter((t) => t.ready && t.alive).length;
  }

  /**
   * Loads and warms one version in every thread. Every thread must load it with the same
   * signature; otherwise it is unloaded from all and the first error is thrown.
   */
  async load(key: string, dir: string): Promise<LoadReport> {
    const targets = this.threads.filter((t) => t.alive);
    const results = await Promise.allSettled(targets.map((t) => t.load(key, dir)));
    const failed = results.find((r) => r.status === 'rejected');
    const reports = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    const mismatch = reports.find((r) => !sameSignature(r.signature, reports[0].signature));
    if (failed || mismatch || reports.length === 0) {
      await Promise.allSettled(targets.map((t) => t.unload(key)));
      if (failed) throw (failed as PromiseRejectedResult).reason;
      throw new Error('the inference threads read different signatures from the same files');
    }
    this.served.set(key, dir);
    // Slowest thread's times: the version serves only once every thread is ready with it.
    return {
      ...reports[0],
      loadMs: Math.max(...reports.map((r) => r.loadMs)),
      warmupMs: Math.max(...reports.map((r) => r.warmupMs)),
    };
  }

  /** Frees a version in every thread; the caller makes sure no batch of it is queued or running. */
  async unload(key: string): Promise<void> {
    this.served.delete(key);
    await Promise.allSettled(this.threads.filter((t) => t.alive).map((t) => t.unload(key)));
  }

  /** Each thread's engine memory and busy time, for /metrics and the leak test; never waits. */
  snapshot(): ThreadSnapshot[] {
    return this.threads.map((t) => ({
      index: t.index,
      busySeconds: t.busyUntilNow(),
      busy: t.busy,
      ready: t.ready,
      ...t.stats,
    }));
  }

  /** Test hook for the thread-death test: ends one thread the way a crash would. */
  killThread(index: number): Promise<number> {
    const thread = this.threads.find((t) => t.index === index);
    if (!thread) throw new InferenceError('NOT_FOUND', `no inference thread ${index}`);
    return thread.terminate();
  }

  /** Lets every thread finish its running batch and free its models, then ends the threads. */
  async close(timeoutMs = CLOSE_TIMEOUT_MS): Promise<void> {
    this.closing = true;
    await Promise.all(this.threads.map((t) => t.close(timeoutMs)));
  }
}
