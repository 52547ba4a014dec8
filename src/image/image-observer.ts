/** What became of one image a request carried, once its header had passed every limit. */
export type DecodeOutcome = 'ok' | 'failed' | 'skipped';

export const DECODE_OUTCOMES: readonly DecodeOutcome[] = ['ok', 'failed', 'skipped'];

/**
 * What the image layer reports, implemented by the metrics module (bound with `useExisting`, as
 * InferenceObserver is), so src/image/ needs no metrics code. `skipped`: never decoded because the
 * client left, the deadline passed or another image of the request failed first.
 */
export abstract class ImageObserver {
  abstract observeDecodes(outcome: DecodeOutcome, images: number): void;
}
