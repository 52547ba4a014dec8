import { readlinkSync } from 'node:fs';
import { setPriority } from 'node:os';

/** Nice value of an inference thread: below the main thread, which runs at the process's own. */
export const INFERENCE_THREAD_NICE = 10;

/**
 * Lowers the calling thread's scheduling priority (Linux: a thread is a task with its own nice
 * value, found through /proc/thread-self). With every core busy running models, the main thread
 * then still gets the CPU the moment it has work (a health probe, a signal, a request to
 * parse), instead of sharing it evenly with the inference threads. Elsewhere it does nothing.
 * Returns whether the priority was lowered.
 */
export function lowerThreadPriority(nice = INFERENCE_THREAD_NICE): boolean {
  try {
    const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
    if (!Number.isInteger(tid)) return false;
    setPriority(tid, nice);
    return true;
  } catch {
    return false;
  }
}
