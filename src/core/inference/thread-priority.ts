import { readdirSync, readlinkSync, writeFileSync } from 'node:fs';
import { getPriority, setPriority } from 'node:os';

/** Nice value of an inference thread: below the main thread, which runs at the process's own. */
export const INFERENCE_THREAD_NICE = 10;

/** Nice value of every other thread but the main one (V8's GC and compiler helpers, libuv's pool). */
export const HELPER_THREAD_NICE = 5;

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
 * Lowers every thread of the process but the main one to HELPER_THREAD_NICE, leaving those
 * already lower (the inference threads) as they are. Call it on the main thread once the threads
 * exist. V8's helper threads mark the heaps of every thread concurrently (~0.8 ms of CPU per JSON
 * request on the CNN of comparison 1b); at the process's own priority they shared a busy core
 * evenly with the main thread, which waited for them with a health probe or a request to read.
 * Returns how many threads were lowered (0 where there is no /proc).
 */
export function lowerHelperThreads(nice = HELPER_THREAD_NICE): number {
  let lowered = 0;
  try {
    for (const tid of readdirSync('/proc/self/task').map(Number)) {
      if (tid === process.pid) continue;
      try {
        if (getPriority(tid) >= nice) continue;
        setPriority(tid, nice);
        lowered++;
      } catch {
        // The thread ended since the listing.
      }
    }
  } catch {
    // No /proc (not Linux): threads there have no nice value of their own.
  }
  return lowered;
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
