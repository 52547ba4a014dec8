import type { TfjsBackendChoice } from '../../config/app-config';
import type { EngineDescriptor } from '../engine';
import type { ModelFormat } from './tfjs-loader';

export interface TfjsEngineOptions {
  backend: TfjsBackendChoice;
}

/** V2 `platform` of each TF.js model format. */
export const TFJS_PLATFORMS: Readonly<Record<ModelFormat, string>> = {
  'layers-model': 'tensorflowjs_layers',
  'graph-model': 'tensorflowjs_graph',
};

/** TensorFlow.js: a version folder with model.json (layers or graph) and its weight shards. */
export const tfjsEngine: EngineDescriptor<TfjsEngineOptions> = {
  id: 'tfjs',
  file: 'model.json',
  platforms: Object.fromEntries(
    Object.entries(TFJS_PLATFORMS).map(([format, platform]) => [platform, format]),
  ),
  configBackend: 'tensorflowjs',
  options: (config) => ({ backend: config.TFJS_BACKEND }),
  // The backend is chosen once per thread, before any model loads (TFJS_BACKEND=tensorflow
  // without its package must fail the boot, not the first load).
  startsWithThread: true,
  async create({ backend }) {
    const { selectBackend } = await import('./tfjs-backend');
    await selectBackend(backend);
    const { TfjsEngine } = await import('./tfjs.engine');
    return new TfjsEngine();
  },
  label: (format, backend) => `TF.js ${format} on ${backend}`,
};
