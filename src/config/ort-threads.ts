import type { AppConfig } from './app-config';
import { usableCores } from './cpu-quota';

/**
 * Intra-op threads for every ONNX Runtime session. Each inference thread runs one batch at a
 * time, so at full load N threads x M intra-op threads are busy at once; the automatic value
 * keeps N x M within the cores, because more threads than cores only adds context switches and
 * cache thrashing (no oversubscription). ORT_INTRA_OP_THREADS overrides it (e.g. 1 thread x N
 * intra-op for the lowest latency of one heavy model at low load).
 *
 * Apart from app-config.ts so that the engine registry, which the inference threads load too,
 * does not pull the configuration's validators into every thread.
 */
export function ortIntraOpThreads(
  config: Pick<AppConfig, 'ORT_INTRA_OP_THREADS' | 'INFERENCE_THREADS'>,
  cores = usableCores().cores,
): number {
  if (config.ORT_INTRA_OP_THREADS > 0) return config.ORT_INTRA_OP_THREADS;
  return Math.max(1, Math.floor(cores / config.INFERENCE_THREADS));
}
