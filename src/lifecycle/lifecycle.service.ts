import { Injectable } from '@nestjs/common';

/** Paths for operators and probes: never shed, never counted against MAX_INFLIGHT. */
const OPS_PATH = /^\/(health|metrics|docs)(\/|-json|$)/;

export function isOpsPath(path: string): boolean {
  return OPS_PATH.test(path);
}

/**
 * Per-process request bookkeeping for load shedding and draining: how many requests are in
 * flight (all, and those that can reach a model) and whether shutdown has begun.
 */
@Injectable()
export class LifecycleService {
  private total = 0;
  private modelBound = 0;
  private isDraining = false;

  get draining(): boolean {
    return this.isDraining;
  }

  /** Requests being served right now (every route). */
  get inflight(): number {
    return this.total;
  }

  /** Requests being served right now that can reach a model (all but ops paths). */
  get modelInflight(): number {
    return this.modelBound;
  }

  /** Counts a request in; the returned function counts it out (idempotent). */
  enter(ops: boolean): () => void {
    this.total++;
    if (!ops) this.modelBound++;
    let done = false;
    return () => {
      if (done) return;
      done = true;
      this.total--;
      if (!ops) this.modelBound--;
    };
  }

  startDraining(): void {
    this.isDraining = true;
  }
}
