import type { ThreadError } from './thread-protocol';

/** What an inference thread makes of an error thrown while a model ran. */
export interface RunFailure {
  error: ThreadError;
  /** The engine's runtime may be corrupt: the thread must never run anything again. */
  fatal: boolean;
}

/** Engine messages that mean an allocation failed (TF.js wasm, V8, ONNX Runtime's allocators). */
const OUT_OF_MEMORY =
  /out of memory|memory access out of bounds|allocation failed|failed to allocate|bad[_ ]alloc|cannot enlarge memory|maximum memory size|invalid typed array length|array buffer allocation|wasm heap cannot/i;

// The project compiles without the DOM library, which is where TypeScript declares WebAssembly.
const { RuntimeError } = (
  globalThis as unknown as { WebAssembly: { RuntimeError: ErrorConstructor } }
).WebAssembly;

const messageOf = (error: unknown) => (error as Error)?.message ?? String(error);

/** The runtime may be corrupt after this error (see classifyRunFailure), whatever was running. */
export function isFatal(error: unknown): boolean {
  return (
    error instanceof RuntimeError ||
    error instanceof RangeError ||
    OUT_OF_MEMORY.test(messageOf(error))
  );
}

const isCoded = (error: unknown): error is ThreadError =>
  typeof (error as ThreadError)?.code === 'string' &&
  typeof (error as ThreadError)?.message === 'string';

/**
 * Classifies an error thrown by a model's run. The model passed load and warm-up in this very
 * thread, so an ordinary error of a run is about the input (ONNX Runtime's "indices element out
 * of data bounds", a shape TF.js refuses): 400 with the engine's reason and the input's name.
 *
 * Fatal, and the thread is retired, when the runtime itself failed:
 * - `WebAssembly.RuntimeError`: a wasm trap (out-of-bounds access, `unreachable`, Emscripten's
 *   abort). TF.js wasm may already have written through a bad pointer before trapping;
 * - `RangeError`: V8 could not allocate (an ArrayBuffer, wasm memory growth), or the wasm heap
 *   guard (tfjs-backend.ts) refused an allocation the heap cannot hold;
 * - an engine message that says an allocation failed (ONNX Runtime's "Failed to allocate memory").
 * Allocation failures are the input's size (507, "needs more memory than the inference thread
 * has"); other traps are the engine's fault (500).
 */
export function classifyRunFailure(error: unknown, model: string, inputs: string[]): RunFailure {
  if (isCoded(error)) return { error: { code: error.code, message: error.message }, fatal: false };
  const reason = messageOf(error);
  const memory = OUT_OF_MEMORY.test(reason);
  const fatal = isFatal(error);
  if (fatal && memory) {
    const message = `model ${model}: the input needs more memory than the inference thread has (${reason}); send fewer or smaller instances`;
    return { error: { code: 'RESOURCE_EXHAUSTED', message }, fatal };
  }
  if (fatal) {
    return {
      error: { code: 'INTERNAL', message: `model ${model}: engine failure: ${reason}` },
      fatal,
    };
  }
  const names = inputs.map((name) => `'${name}'`).join(', ');
  const which = inputs.length === 1 ? `input ${names}` : `inputs ${names}`;
  const message = `model ${model} cannot run on ${which}: ${reason}`;
  return { error: { code: 'INVALID_ARGUMENT', message }, fatal: false };
}
