import { ServingError } from '../../errors/serving-error';

/**
 * The life of one inference thread:
 * - starting: the worker runs its script and sets up its runtime (TF.js backend);
 * - loading: it loads every served version before it takes work (a replacement thread);
 * - idle / busy: it serves, with no batch or with one batch running;
 * - closing: it finishes what it runs and frees its models (shutdown, or retired after a fatal
 *   engine error); it takes no more work;
 * - exited: the worker has stopped, whatever the cause.
 */
export const THREAD_STATES = ['starting', 'loading', 'idle', 'busy', 'closing', 'exited'] as const;
export type ThreadState = (typeof THREAD_STATES)[number];

/** Every legal move; anything else is a bug in the pool or the thread handle. */
const NEXT: Record<ThreadState, readonly ThreadState[]> = {
  starting: ['loading', 'closing', 'exited'],
  loading: ['idle', 'closing', 'exited'],
  idle: ['busy', 'closing', 'exited'],
  busy: ['idle', 'closing', 'exited'],
  closing: ['exited'],
  exited: [],
};

/** The state of one thread, changed only through `to()`, which refuses an illegal move. */
export class ThreadLifecycle {
  private current: ThreadState = 'starting';
  /** It reached idle once: it started and loaded every version, so an exit is not a boot failure. */
  private servedOnce = false;

  constructor(private readonly label: string) {}

  get state(): ThreadState {
    return this.current;
  }

  get served(): boolean {
    return this.servedOnce;
  }

  /** Takes batches now, idle or busy. */
  get serving(): boolean {
    return this.current === 'idle' || this.current === 'busy';
  }

  /** Will still take work once started and loaded: neither closing nor exited. */
  get alive(): boolean {
    return this.current !== 'closing' && this.current !== 'exited';
  }

  to(next: ThreadState): void {
    if (!NEXT[this.current].includes(next)) {
      throw ServingError.internal(
        `${this.label}: illegal state change ${this.current} -> ${next} (a bug in the inference pool)`,
      );
    }
    this.current = next;
    if (next === 'idle') this.servedOnce = true;
  }
}
