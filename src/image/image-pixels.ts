import { ImagePreprocessing } from './image-spec';

/**
 * Packs the decoded pixels of one image (height x width x channels bytes, interleaved, as
 * libvips gives them) into `out` at `offset`, in the input's layout and value range. Pure and
 * synchronous: the expensive part (decoding, resizing) happened off the main thread before.
 */
export function packPixels(
  pixels: Uint8Array,
  pre: ImagePreprocessing,
  out: Float32Array | Int32Array,
  offset: number,
): void {
  const { height, width, channels, normalization: norm, invert } = pre;
  const plane = height * width;
  const channelsFirst = pre.layout === 'NCHW';
  // Written as the metadata reads ((v - mean) / std, low + v * (high - low) / 255), not as a
  // precomputed gain and bias: the tensor is then exactly what the model's author computed.
  const normalize: (value: number, channel: number) => number =
    norm.kind === 'scale'
      ? (v) => norm.low + (v * (norm.high - norm.low)) / 255
      : norm.kind === 'standardize'
        ? (v, c) => (v - norm.mean[c]) / norm.std[c]
        : (v) => v;
  for (let p = 0; p < plane; p++) {
    for (let c = 0; c < channels; c++) {
      const byte = pixels[p * channels + c];
      const value = invert ? 255 - byte : byte;
      out[offset + (channelsFirst ? c * plane + p : p * channels + c)] = normalize(value, c);
    }
  }
}
