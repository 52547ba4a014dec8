import { ortIntraOpThreads } from '../../config/ort-threads';
import type { EngineDescriptor } from '../engine';

export interface OnnxEngineOptions {
  /** Threads ONNX Runtime may use inside one run (its intra-op pool), per session. */
  intraOpThreads: number;
}

/** V2 `platform` of an ONNX model, as Triton names it. */
export const ONNX_PLATFORM = 'onnxruntime_onnx';

/** ONNX models: a version folder holding `model.onnx`, run by ONNX Runtime's CPU provider. */
export const onnxEngine: EngineDescriptor<OnnxEngineOptions> = {
  id: 'onnx',
  file: 'model.onnx',
  platforms: { [ONNX_PLATFORM]: 'onnx' },
  configBackend: 'onnxruntime',
  options: (config) => ({ intraOpThreads: ortIntraOpThreads(config) }),
  // Imported on first use: a thread serving only TF.js models never loads ONNX Runtime.
  async create(options) {
    const { OnnxEngine } = await import('./onnx.engine');
    return new OnnxEngine(options);
  },
  label: () => 'ONNX Runtime',
};
