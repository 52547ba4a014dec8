import { HttpException } from '@nestjs/common';
import { availableParallelism } from 'node:os';
import { InferenceError } from '../errors/inference-error';

interface Waiter {
  resolve: () => void;
  reject: (reason: unknown) => void;
  detach: () => void;
}

/**
 * Why a waiting task will not run: the abort's reason when it is one of ours (the deadline's
 * InferenceError, or another image's 4xx), else the client left.
 */
export function abortReason(signal: AbortSignal): unknown {
  const reason: unknown = signal.reason;
  return reason instanceof InferenceError || reason instanceof HttpException
    ? reason
    : new InferenceError(
        'CANCELLED',
        'the client closed the connection before its images were decoded',
      );
}

/**
 * A counting semaphore over image work, served round-robin by owner (one owner per request):
 * a request holding many images gets one slot turn in each round, so another client's single
 * image waits for at most one decode per slot, not for the whole batch queued before it. A
 * waiter whose signal aborts leaves the queue at once; a running task cannot be stopped (libvips
 * has no cancel), so the slot count is also the most decodes that outlive a departed client.
 */
export class DecodeSlots {
  private free: number;
  /** Owners with waiters, in turn order: Map keeps insertion order, so re-inserting rotates. */
  private readonly waiting = new Map<object, Waiter[]>();

  constructor(readonly size: number) {
    this.free = size;
  }

  /** Runs `task` once a slot is free; rejects without running it if `signal` aborts first. */
  async run<T>(owner: object, signal: AbortSignal | undefined, task: () => Promise<T>): Promise<T> {
    await this.acquire(owner, signal);
    try {
      // The signal may abort between the hand-over and this continuation.
      if (signal?.aborted) throw abortReason(signal);
      return await task();
    } finally {
      this.release(owner);
    }
  }

  /** Tasks waiting for a slot (all owners). */
  get queued(): number {
    let n = 0;
    for (const queue of this.waiting.values()) n += queue.length;
    return n;
  }

  private acquire(owner: object, signal: AbortSignal | undefined): Promise<void> {
    if (signal?.aborted) return Promise.reject(abortReason(signal));
    if (this.free > 0) {
      this.free--;
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = { resolve, reject, detach: () => undefined };
      const queue = this.waiting.get(owner) ?? [];
      queue.push(waiter);
      if (!this.waiting.has(owner)) this.waiting.set(owner, queue);
      if (signal) {
        const onAbort = () => {
          this.remove(owner, waiter);
          reject(abortReason(signal));
        };
        signal.addEventListener('abort', onAbort, { once: true });
        waiter.detach = () => signal.removeEventListener('abort', onAbort);
      }
    });
  }

  private remove(owner: object, waiter: Waiter): void {
    const queue = this.waiting.get(owner);
    if (!queue) return;
    const at = queue.indexOf(waiter);
    if (at !== -1) queue.splice(at, 1);
    if (queue.length === 0) this.waiting.delete(owner);
  }

  /**
   * Hands the slot to the next owner in turn, which then goes to the back of the line. The owner
   * giving the slot back goes behind the others first: it was just served.
   */
  private release(from: object): void {
    const mine = this.waiting.get(from);
    if (mine && this.waiting.size > 1) {
      this.waiting.delete(from);
      this.waiting.set(from, mine);
    }
    const next = this.waiting.entries().next();
    if (next.done) {
      this.free++;
      return;
    }
    const [owner, queue] = next.value;
    const waiter = queue.shift()!;
    this.waiting.delete(owner);
    if (queue.length > 0) this.waiting.set(owner, queue);
    waiter.detach();
    waiter.resolve();
  }
}

let shared: DecodeSlots | undefined;

/**
 * The process-wide slots for image work. Sized to the cores, and to one less than libuv's
 * threadpool (UV_THREADPOOL_SIZE, 4 by default), where sharp runs: decoding never takes the
 * last pool thread from file reads, DNS and zlib. Created on first use, not at import.
 */
export function decodeSlots(): DecodeSlots {
  const pool = Number(process.env.UV_THREADPOOL_SIZE) || 4;
  shared ??= new DecodeSlots(Math.max(1, Math.min(availableParallelism(), pool - 1)));
  return shared;
}
