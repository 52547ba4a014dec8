import * as tf from '@tensorflow/tfjs-core';
import type { TfjsBackendChoice } from '../../config/app-config';

/** Thrown at boot when the requested TF.js backend cannot be used. */
export class BackendError extends Error {}

// Imported on demand: requiring a backend package registers it with TF.js as a side effect,
// and @tensorflow/tfjs-node is not a dependency: its installer downloads libtensorflow from a host
// many machines cannot reach, and keeping it (even optional) pulled the 141 MB @tensorflow/tfjs
// umbrella into every production install. Install it by hand where it can install.
const BACKEND_PACKAGES = {
  tensorflow: '@tensorflow/tfjs-node',
  wasm: '@tensorflow/tfjs-backend-wasm',
  cpu: '@tensorflow/tfjs-backend-cpu',
} as const;
type ConcreteBackend = keyof typeof BACKEND_PACKAGES;

function register(backend: ConcreteBackend): void {
  try {
    require(BACKEND_PACKAGES[backend]);
  } catch (error) {
    const hint =
      backend === 'tensorflow'
        ? ' Install it with `npm install @tensorflow/tfjs-node` on a machine whose installer can download libtensorflow, or use TFJS_BACKEND=wasm.'
        : '';
    throw new BackendError(
      `TFJS_BACKEND=${backend} needs ${BACKEND_PACKAGES[backend]}, which cannot be loaded: ${(error as Error).message.split('\n')[0]}.${hint}`,
    );
  }
}

async function activate(backend: ConcreteBackend): Promise<void> {
  register(backend);
  if (!(await tf.setBackend(backend))) {
    throw new BackendError(`TF.js could not initialise the ${backend} backend`);
  }
  await tf.ready();
  if (backend === 'wasm') guardWasmHeap();
  quietTfjs();
}

/**
 * Turns off TF.js's console warnings once the backend is chosen (after, so a backend that fails to
 * initialise still says why). Their one regular line is the cpu backend's "Hi, looks like you are
 * running TensorFlow.js in Node.js ... install our node backend" banner, printed by every thread
 * as non-JSON text among the logs: advice for a choice this server makes on purpose, and reports
 * itself (the boot logs the backend). In tfjs 4.x the PROD flag silences those warnings and
 * changes nothing else.
 */
export function quietTfjs(): void {
  tf.enableProdMode();
}

/** The largest wasm32 heap Emscripten grows to (its getHeapMax: 4 GiB less one 64 KiB page). */
const WASM_HEAP_MAX = 2 ** 32 - 2 ** 16;

interface WasmModule {
  _malloc(bytes: number): number;
}

/**
 * tfjs-backend-wasm allocates every tensor with the module's malloc and never checks the result:
 * a malloc that fails returns 0 and the tensor is written over the heap from address 0, and a
 * size of 4 GiB or more wraps to a small one (the pointer is an int32) and the kernel writes far
 * past it. Either corrupts the heap silently, and the thread then answers other models wrongly.
 * Refusing such an allocation with a RangeError stops the run before anything is written; the
 * inference thread takes it as fatal (run-failure.ts) and is replaced.
 */
function guardWasmHeap(): void {
  const wasm = (tf.backend() as unknown as { wasm?: WasmModule }).wasm;
  if (!wasm || typeof wasm._malloc !== 'function') return;
  let malloc = wasm._malloc;
  const guarded = (bytes: number): number => {
    if (bytes > WASM_HEAP_MAX) {
      throw new RangeError(
        `wasm heap cannot allocate ${bytes} bytes: more than its ${WASM_HEAP_MAX} bytes at most`,
      );
    }
    const pointer = malloc(bytes);
    if (pointer === 0 && bytes > 0) {
      throw new RangeError(`wasm heap cannot allocate ${bytes} bytes: out of memory`);
    }
    return pointer;
  };
  // Emscripten's export is a stub that, on its first call, assigns the raw wasm function over
  // Module._malloc: the setter keeps that function as the one to call, and the guard in place.
  Object.defineProperty(wasm, '_malloc', {
    get: () => guarded,
    set: (raw: WasmModule['_malloc']) => (malloc = raw),
    configurable: true,
    enumerable: true,
  });
}

/**
 * Activates the TF.js backend for this process and returns its name.
 * `auto` prefers native TensorFlow, then WebAssembly; the pure-JS `cpu` backend is tens of
 * times slower on real models, so it is never chosen silently, only when asked for.
 */
export async function selectBackend(choice: TfjsBackendChoice): Promise<string> {
  if (choice !== 'auto') {
    await activate(choice);
    return tf.getBackend();
  }
  try {
    await activate('tensorflow');
  } catch {
    await activate('wasm');
  }
  return tf.getBackend();
}
