import { Injectable } from '@nestjs/common';

/** Paths for operators and probes: never shed, never counted against MAX_INFLIGHT. */
const OPS_PATH = /^\/(health|metrics|docs)(\/|-json|$)/;

export function isOpsPath(path: string): boolean {
  return OPS_PATH.test(path);
}

/** A counter whose taken slots are given back once each (idempotent release). */
class Slots {
  count = 0;

  take(): () => void {
    this.count++;
    let done = false;
    return () => {
      if (done) return;
      done = true;
      this.count--;
    };
  }
}

/**
 * Per-process request bookkeeping for load shedding and draining: how many requests are in
 * flight (all, and those that can reach a model), how many of those are still uploading their
 * body and how many were admitted to inference, and whether shutdown has begun.
 */
@Injectable()
export class LifecycleService {
  private total = 0;
  private modelBound = 0;
  private readonly uploading = new Slots();
  private readonly admittedSlots = new Slots();
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

  /** Requests whose body is still arriving (MAX_UPLOADS counts these). */
  get uploads(): number {
    return this.uploading.count;
  }

  /** Requests whose body has arrived and that are not answered yet (MAX_INFLIGHT counts these). */
  get admitted(): number {
    return this.admittedSlots.count;
  }

  /** Counts a body upload in; the returned function counts it out (idempotent). */
  startUpload(): () => void {
    return this.uploading.take();
  }

  /** Counts a request in for inference; the returned function counts it out (idempotent). */
  admit(): () => void {
    return this.admittedSlots.take();
  }

  /**
   * Counts a request in, from its arrival to its answer, uploads included (waitForIdle waits for
   * these); the returned function counts it out (idempotent).
   */
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
