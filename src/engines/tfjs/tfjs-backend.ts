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
