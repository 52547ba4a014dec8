/**
 * When the pool starts a thread again after a replacement failed to boot (to start its runtime
 * or to load the served versions). piscina stops respawning a worker that fails during
 * bootstrap; here a failure may be passing (a file being replaced), so a few attempts are made,
 * further and further apart, and then the pool stops.
 */
export interface RestartOptions {
  /** Wait before the attempt that follows the first failure; doubled after each further one. */
  baseDelayMs: number;
  /** The longest wait between two attempts. */
  maxDelayMs: number;
  /** Consecutive boot failures of one thread after which it is not started again as it was. */
  maxBootFailures: number;
}

export const DEFAULT_RESTART: RestartOptions = {
  baseDelayMs: 1000,
  maxDelayMs: 30_000,
  maxBootFailures: 3,
};

/** What to do after a boot failure. */
export type RestartDecision =
  /** Start the thread again after `delayMs`. */
  | { retry: true; delayMs: number; failures: number }
  /**
   * The cap is reached. `versions` (key -> last error) could not be loaded in any attempt: they
   * are reported failed and the thread starts again without them. With none to blame, the
   * thread itself cannot start and is given up.
   */
  | { retry: false; failures: number; versions: Map<string, string> };

/** The consecutive boot failures of one thread slot; a replacement that serves resets them. */
export class BootFailures {
  private count = 0;
  /** Versions that failed to load in the attempts counted, with their last error. */
  private blamed = new Map<string, string>();

  constructor(private readonly options: RestartOptions = DEFAULT_RESTART) {}

  get failures(): number {
    return this.count;
  }

  /** Records one failed boot (`versions`: those whose load failed in it) and decides. */
  record(versions: Map<string, string>): RestartDecision {
    this.count++;
    versions.forEach((error, key) => this.blamed.set(key, error));
    const { baseDelayMs, maxDelayMs, maxBootFailures } = this.options;
    if (this.count < maxBootFailures) {
      const delayMs = Math.min(maxDelayMs, baseDelayMs * 2 ** (this.count - 1));
      return { retry: true, delayMs, failures: this.count };
    }
    const decision: RestartDecision = {
      retry: false,
      failures: this.count,
      versions: new Map(this.blamed),
    };
    // Those versions are dropped: the next attempt is a fresh start without them.
    if (this.blamed.size > 0) this.reset();
    return decision;
  }

  reset(): void {
    this.count = 0;
    this.blamed.clear();
  }
}
