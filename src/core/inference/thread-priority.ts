import { readlinkSync, writeFileSync } from 'node:fs';
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

/**
 * Names the calling thread (Linux: its `comm`, at most 15 bytes), so `top -H`, `ps -L` and the
 * benchmark's CPU figures tell the main, parse and inference threads apart: Node names every
 * thread "node". Elsewhere it does nothing. Returns whether the name was set.
 */
export function nameThread(name: string): boolean {
  try {
    writeFileSync('/proc/thread-self/comm', name.slice(0, 15));
    return true;
  } catch {
    return false;
  }
}
