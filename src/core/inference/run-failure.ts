import { EngineInputError } from '../../engines/engine';
import { ServingError, type ServingErrorData } from '../../errors/serving-error';

/** What an inference thread makes of an error thrown while a model ran. */
export interface RunFailure {
  error: ServingErrorData;
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

/** The runtime's own error, under the engine's verdict that it was about the inputs. */
const runtimeErrorOf = (error: unknown) =>
  error instanceof EngineInputError ? error.cause : error;

/** The runtime may be corrupt after this error (see classifyRunFailure), whatever was running. */
export function isFatal(thrown: unknown): boolean {
  const error = runtimeErrorOf(thrown);
  return (
    error instanceof RuntimeError ||
    error instanceof RangeError ||
    OUT_OF_MEMORY.test(messageOf(error))
  );
}

/**
 * Classifies an error thrown by a model's run, as data that crosses back to the main thread.
 *
 * Fatal, and the thread is retired, when the runtime itself failed:
 * - `WebAssembly.RuntimeError`: a wasm trap (out-of-bounds access, `unreachable`, Emscripten's
 *   abort). TF.js wasm may already have written through a bad pointer before trapping;
 * - `RangeError`: V8 could not allocate (an ArrayBuffer, wasm memory growth), or the wasm heap
 *   guard (tfjs-backend.ts) refused an allocation the heap cannot hold;
 * - an engine message that says an allocation failed (ONNX Runtime's "Failed to allocate memory").
 * Allocation failures are the input's size (507, "needs more memory than the inference thread
 * has"); other traps are the engine's fault (500).
 *
 * Otherwise an error the engine says its runtime raised on the inputs (EngineInputError: ONNX
 * Runtime's "Got invalid dimensions for input", "indices element out of data bounds", a shape
 * TF.js refuses) is the client's: 400 with the runtime's reason and the input names. Anything
 * else is a fault of the engine's own code: 500, and the thread goes on.
 */
export function classifyRunFailure(error: unknown, model: string, inputs: string[]): RunFailure {
  if (error instanceof ServingError) return { error: error.toData(), fatal: false };
  const reason = messageOf(runtimeErrorOf(error));
  const fatal = isFatal(error);
  if (fatal && OUT_OF_MEMORY.test(reason)) {
    const message = `model ${model}: the input needs more memory than the inference thread has (${reason}); send fewer or smaller instances`;
    const exhausted = new ServingError('RESOURCE_EXHAUSTED', message, 'OUT_OF_MEMORY');
    return { error: exhausted.toData(), fatal };
  }
  if (fatal || !(error instanceof EngineInputError)) {
    const fault = ServingError.internal(`model ${model}: engine failure: ${reason}`);
    return { error: fault.toData(), fatal };
  }
  const names = inputs.map((name) => `'${name}'`).join(', ');
  const which = inputs.length === 1 ? `input ${names}` : `inputs ${names}`;
  const message = `model ${model} cannot run on ${which}: ${reason}`;
  return { error: ServingError.invalid(message).toData(), fatal: false };
}
