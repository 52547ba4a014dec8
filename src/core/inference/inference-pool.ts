import { Logger } from '@nestjs/common';
import type { ModelSignature } from '../../tensor/signature';
import { ServingError } from '../../errors/serving-error';
import { InferenceThread } from './inference-thread';
import { BootFailures, DEFAULT_RESTART, RestartOptions } from './restart-policy';
import type { LoadReport, ThreadOptions, ThreadStats } from './thread-protocol';
import type { ThreadState } from './thread-state';

export interface PoolOptions extends ThreadOptions {
  threads: number;
  /** When failed replacements are started again (DEFAULT_RESTART where not given). */
  restart?: Partial<RestartOptions>;
}

/** Per-thread numbers read at scrape time. */
export interface ThreadSnapshot extends ThreadStats {
  index: number;
  busySeconds: number;
  busy: boolean;
  ready: boolean;
  state: ThreadState;
  /** Batches run in its slot, by it and the threads it replaced. */
  batches: number;
  /** The versions (copy keys) it holds. */
  versions: string[];
}

/**
 * How long closing waits for an idle thread to free its models before cutting it; after the HTTP
 * drain, so short. A running batch (one whose request was already answered: timed out or its
 * client gone) is always waited for: see InferenceThread.close.
 */
const CLOSE_TIMEOUT_MS = 5000;

const sameSignature = (a: ModelSignature, b: ModelSignature) =>
  JSON.stringify(a) === JSON.stringify(b);

/** A version the pool stopped serving because replacement threads could not load it. */
export interface VersionFailure {
  key: string;
  error: string;
}

/** A served version: where its files are and the slots whose threads hold it. */
interface Placement {
  dir: string;
  slots: Set<number>;
}

/**
 * INFERENCE_THREADS worker threads. A version is held by `count` of them (its instance_group
 * count; every thread by default): the least loaded ones, so small models run everywhere and a
 * big one in a few. Loads and unloads go to the threads holding the version; batches go to one
 * idle thread holding it at a time (the scheduler picks). A thread that dies is replaced and
 * reloads the versions its slot held before it takes work again.
 *
 * A replacement that fails to boot (its runtime does not start, or a served version no longer
 * loads: its folder was deleted) is started again with a growing delay, up to a cap of
 * consecutive failures (RestartOptions). At the cap the versions it could not load are dropped
 * and reported failed (`onVersionsFailed`), and it starts once more without them; with none to
 * blame the thread is given up. A replacement that serves resets the count.
 *
 * Not piscina or tinypool: their workers are interchangeable task runners, while this pool needs
 * per-thread state (every thread holds the same models, loaded and unloaded by broadcast),
 * knowing which thread is idle so the batcher can fill it, and reloading a replaced thread.
 */
export class InferencePool {
  private readonly logger = new Logger('InferencePool');
  private readonly slots: InferenceThread[] = [];
  /** Every version served, by key, and the slots holding it: what a replacement must load. */
  private readonly served = new Map<string, Placement>();
  private readonly bootFailures: BootFailures[] = [];
  private readonly restartTimers = new Set<NodeJS.Timeout>();
  /** Slots given up (their thread cannot start), with why. */
  private readonly givenUp = new Map<number, string>();
  private readonly restart: RestartOptions;
  private closing = false;
  private replaced = 0;
  /** Batches run by the threads that served in each slot before its current one. */
  private readonly pastBatches: number[] = [];
  /** Called whenever a thread may have become idle (a batch ended, a thread got ready). */
  onIdle: () => void = () => undefined;
  /** Called when versions are dropped because replacement threads cannot load them. */
  onVersionsFailed: (failures: VersionFailure[]) => void = () => undefined;

  constructor(private readonly options: PoolOptions) {
    this.restart = { ...DEFAULT_RESTART, ...options.restart };
  }

  /** Starts every thread; rejects (boot fails) when a thread cannot start its backend. */
  async start(): Promise<string> {
    for (let i = 0; i < this.options.threads; i++) {
      this.spawn(i);
      this.bootFailures.push(new BootFailures(this.restart));
    }
    await Promise.all(this.slots.map((t) => t.started));
    const gone = this.slots.find((t) => !t.alive);
    if (gone) throw new Error(`inference thread ${gone.index} stopped while the others started`);
    for (const thread of this.slots) {
      thread.loading(); // nothing is served yet: the versions are loaded into every thread next
      thread.serve();
    }
    return this.slots[0].backend;
  }

  /** The threads, one per slot: the one serving there, or the last one started there. */
  get threads(): readonly InferenceThread[] {
    return this.slots;
  }

  /** Threads started to replace one that died or could not boot (inference_thread_replacements_total). */
  get replacements(): number {
    return this.replaced;
  }

  private spawn(index: number): InferenceThread {
    this.pastBatches[index] = (this.pastBatches[index] ?? 0) + (this.slots[index]?.batches ?? 0);
    const thread = new InferenceThread(index, this.options, (t, code) => this.exited(t, code));
    this.slots[index] = thread;
    return thread;
  }

  /** A thread that served and stopped is replaced at once; a failed boot is handled by boot(). */
  private exited(thread: InferenceThread, code: number): void {
    if (this.closing || this.slots[thread.index] !== thread || !thread.served) return;
    this.logger.warn(
      `Inference thread ${thread.index} stopped (exit code ${code}); starting a replacement`,
    );
    this.replace(thread.index);
  }

  private replace(index: number): void {
    if (this.closing) return;
    this.replaced++;
    void this.boot(this.spawn(index));
  }

  /**
   * Starts a replacement and loads every served version into it, each even after another failed
   * (so one attempt finds every version that no longer loads), then lets it take work.
   */
  private async boot(thread: InferenceThread): Promise<void> {
    const failed = new Map<string, string>();
    let reason: string | undefined;
    try {
      await thread.started;
      thread.loading();
      for (const [key, { dir, slots }] of this.served) {
        if (!slots.has(thread.index)) continue;
        if (!thread.alive) break;
        await thread.load(key, dir).catch((error: Error) => {
          failed.set(key, error.message);
          reason ??= `cannot load ${key}: ${error.message}`;
        });
      }
    } catch (error) {
      reason = (error as Error).message;
    }
    if (reason === undefined && thread.alive) {
      thread.serve();
      this.bootFailures[thread.index].reset();
      this.logger.log(
        `Inference thread ${thread.index} replaced; ${this.versionsOf(thread.index).length} version(s) reloaded`,
      );
      this.onIdle();
      return;
    }
    await thread.close(CLOSE_TIMEOUT_MS);
    this.bootFailed(thread.index, reason ?? `it stopped while starting`, failed);
  }

  private bootFailed(index: number, reason: string, failed: Map<string, string>): void {
    if (this.closing) return;
    const decision = this.bootFailures[index].record(failed);
    const attempts = `${decision.failures} time(s) in a row`;
    if (decision.retry) {
      this.logger.warn(
        `Replacement of inference thread ${index} failed ${attempts}: ${reason}; next attempt in ${decision.delayMs} ms`,
      );
      const timer = setTimeout(() => {
        this.restartTimers.delete(timer);
        this.replace(index);
      }, decision.delayMs);
      timer.unref();
      this.restartTimers.add(timer);
      return;
    }
    const dropped = [...decision.versions].filter(([key]) => this.served.has(key));
    if (decision.versions.size > 0) {
      this.logger.error(
        `Replacement of inference thread ${index} could not load ${[...decision.versions.keys()].join(', ')} ${attempts} (${reason}); reported failed and no longer served; the thread starts again without them`,
      );
      if (dropped.length > 0) {
        void Promise.allSettled(dropped.map(([key]) => this.unload(key)));
        this.onVersionsFailed(dropped.map(([key, error]) => ({ key, error })));
      }
      this.replace(index);
      return;
    }
    this.givenUp.set(index, `inference thread ${index} could not start ${attempts}: ${reason}`);
    this.logger.error(
      `Inference thread ${index} could not start ${attempts} (${reason}); it is not started again${this.unavailable() ? ': no inference thread is left, the server is not ready and answers 503 until it is restarted' : ''}`,
    );
    // The scheduler hears of it, so requests queued for a thread that will not come are refused.
    this.onIdle();
  }

  /** A thread able to take a batch of this version (of any, without a key) right now. */
  idleThread(key?: string): InferenceThread | undefined {
    const slots = key === undefined ? undefined : this.served.get(key)?.slots;
    return this.slots.find((t) => t.state === 'idle' && (!slots || slots.has(t.index)));
  }

  /** Threads holding this version that take batches now, busy or idle. */
  holding(key: string): number {
    const slots = this.served.get(key)?.slots;
    return slots ? this.slots.filter((t) => t.ready && slots.has(t.index)).length : this.size;
  }

  /** How many threads hold this version (the model_instances gauge); 0 when not served. */
  instances(key: string): number {
    return this.served.get(key)?.slots.size ?? 0;
  }

  /** Keys of the versions a slot holds. */
  private versionsOf(index: number): string[] {
    return [...this.served].filter(([, { slots }]) => slots.has(index)).map(([key]) => key);
  }

  /**
   * The `count` threads a new version goes to: those holding the fewest versions, lowest slot
   * first on a tie, so the same repository lands on the same threads at every boot.
   */
  private place(count: number): InferenceThread[] {
    const load = (t: InferenceThread) => this.versionsOf(t.index).length;
    return this.slots
      .filter((t) => t.alive)
      .sort((a, b) => load(a) - load(b) || a.index - b.index)
      .slice(0, Math.max(1, count));
  }

  /** Whether any thread can serve (readiness stays up while others replace a dead one). */
  get serving(): boolean {
    return this.slots.some((t) => t.ready);
  }

  /** Threads that take batches now, busy or idle (the scheduler shares its queue among them). */
  get size(): number {
    return this.slots.filter((t) => t.ready).length;
  }

  /**
   * Why no thread will ever take a batch again (of this version, with a key), once every slot
   * (holding it) is given up; undefined while a thread serves or one is being started (requests
   * then wait for it).
   */
  unavailable(key?: string): string | undefined {
    const slots = key === undefined ? undefined : this.served.get(key)?.slots;
    if (slots && [...slots].every((index) => this.givenUp.has(index))) {
      const reasons = [...slots].map((index) => this.givenUp.get(index));
      return `no inference thread holding ${key} is running (${reasons.join('; ')}); the server must be restarted`;
    }
    if (this.givenUp.size === 0 || this.givenUp.size < this.slots.length) return undefined;
    return `no inference thread is running (${[...this.givenUp.values()].join('; ')}); the server must be restarted`;
  }

  /**
   * Loads and warms one version in `count` threads (every thread by default; see place()).
   * Every one must load it with the same signature; otherwise it is unloaded from all and the
   * first error is thrown.
   */
  async load(key: string, dir: string, count = this.slots.length): Promise<LoadReport> {
    if (count > this.slots.length) {
      // Clamped, not refused: INFERENCE_THREADS defaults to the cores, so a repository written
      // for a bigger machine still serves on a smaller one, by every thread there is.
      this.logger.warn(
        `${key}: instance_group count ${count} is more than the ${this.slots.length} inference thread(s) (INFERENCE_THREADS); it is held by all ${this.slots.length}`,
      );
    }
    const targets = this.place(count);
    const results = await Promise.allSettled(targets.map((t) => t.load(key, dir)));
    const failed = results.find((r) => r.status === 'rejected');
    const reports = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    const mismatch = reports.find((r) => !sameSignature(r.signature, reports[0].signature));
    if (failed || mismatch || reports.length === 0) {
      await Promise.allSettled(targets.map((t) => t.unload(key)));
      if (failed) throw (failed as PromiseRejectedResult).reason;
      if (reports.length === 0) {
        throw ServingError.unavailable(
          `${dir}: no inference thread is running to load it (they are being restarted); it is loaded once its files change again`,
        );
      }
      throw new Error('the inference threads read different signatures from the same files');
    }
    this.served.set(key, { dir, slots: new Set(targets.map((t) => t.index)) });
    // Slowest thread's times: the version serves only once every thread is ready with it.
    return {
      ...reports[0],
      loadMs: Math.max(...reports.map((r) => r.loadMs)),
      warmupMs: Math.max(...reports.map((r) => r.warmupMs)),
    };
  }

  /** Frees a version in the threads holding it; the caller makes sure no batch of it is queued or running. */
  async unload(key: string): Promise<void> {
    const slots = this.served.get(key)?.slots;
    this.served.delete(key);
    const holders = this.slots.filter((t) => t.alive && (!slots || slots.has(t.index)));
    await Promise.allSettled(holders.map((t) => t.unload(key)));
  }

  /** Each thread's engine memory and busy time, for /metrics and the leak test; never waits. */
  snapshot(): ThreadSnapshot[] {
    return this.slots.map((t) => ({
      index: t.index,
      busySeconds: t.busyUntilNow(),
      busy: t.busy,
      ready: t.ready,
      state: t.state,
      batches: this.pastBatches[t.index] + (t.batches ?? 0),
      versions: this.versionsOf(t.index),
      ...t.stats,
    }));
  }

  /** Lets every thread finish its running batch and free its models, then ends the threads. */
  async close(timeoutMs = CLOSE_TIMEOUT_MS): Promise<void> {
    this.closing = true;
    this.restartTimers.forEach((timer) => clearTimeout(timer));
    this.restartTimers.clear();
    await Promise.all(this.slots.map((t) => t.close(timeoutMs)));
  }
}
