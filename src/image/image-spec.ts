import { FREE_DIM, formatShape, TensorSpec } from '../tensor/signature';

/**
 * How an image becomes a model's input tensor, declared per model in `metadata.json`:
 *
 *   { "image": { "input": "x", "size": [28, 28], "channels": 1, "scale": [0, 1], "invert": false } }
 *
 * Checked once when the model loads (a mistake stops the model, with the reason), then resolved
 * into an ImagePreprocessing that the decoder and the pixel packer follow.
 */
export interface ImageBlock {
  input?: string;
  size?: [number, number];
  channels?: 1 | 3;
  scale?: [number, number];
  mean?: number | number[];
  std?: number | number[];
  invert?: boolean;
}

export type PixelNormalization =
  | { kind: 'scale'; low: number; high: number }
  | { kind: 'standardize'; mean: number[]; std: number[] }
  /** The 0-255 values as they are: int32 inputs, or float inputs that declare no normalization. */
  | { kind: 'raw' };

/** Everything needed to turn decoded pixels into the input tensor, resolved against the signature. */
export interface ImagePreprocessing {
  input: string;
  dtype: 'float32' | 'int32';
  height: number;
  width: number;
  channels: 1 | 3;
  /** NHWC as TF.js models are; NCHW when the input's shape puts channels first. */
  layout: 'NHWC' | 'NCHW';
  /** 4, or 3 for an [N,H,W] input that has no channel axis. */
  rank: 3 | 4;
  normalization: PixelNormalization;
  /** 255 - value before normalization: dark-on-light photos for models trained light-on-dark. */
  invert: boolean;
}

const KEYS = ['input', 'size', 'channels', 'scale', 'mean', 'std', 'invert'];
export const IMAGE_BLOCK_EXAMPLE =
  '{ "image": { "size": [28, 28], "channels": 1, "scale": [0, 1] } }';

class ImageMetadataError extends Error {
  constructor(message: string) {
    super(`metadata.json: "image": ${message}`);
  }
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);
const isChannels = (value: unknown): value is 1 | 3 => value === 1 || value === 3;

/** Picks the input the image feeds: the named one, or the model's only input. */
function pickInput(block: ImageBlock, inputs: TensorSpec[]): TensorSpec {
  const names = inputs.map((spec) => spec.name).join(', ');
  if (block.input === undefined) {
    if (inputs.length === 1) return inputs[0];
    throw new ImageMetadataError(
      `the model has ${inputs.length} inputs (${names}); name the one the image feeds in "input"`,
    );
  }
  const spec = inputs.find((s) => s.name === block.input);
  if (!spec) {
    throw new ImageMetadataError(
      `"input" '${block.input}' is not an input of the model (${names})`,
    );
  }
  return spec;
}

/**
 * Reads the input's shape: [N,H,W,C] (NHWC), [N,C,H,W] (NCHW, when the dimension after the batch
 * is 1 or 3 and the last is not) or [N,H,W] (one channel, no channel axis).
 */
function readLayout(spec: TensorSpec): {
  layout: 'NHWC' | 'NCHW';
  height: number;
  width: number;
  channels: number;
  channelAxis: boolean;
} {
  const s = spec.shape;
  if (s.length === 3) {
    return { layout: 'NHWC', height: s[1], width: s[2], channels: 1, channelAxis: false };
  }
  if (s.length !== 4) {
    throw new ImageMetadataError(
      `input '${spec.name}' has shape ${formatShape(s)}; an image input needs [N,H,W,C], [N,C,H,W] or [N,H,W]`,
    );
  }
  const channelsFirst = isChannels(s[1]) && !isChannels(s[3]) && s[3] !== FREE_DIM;
  return channelsFirst
    ? { layout: 'NCHW', channels: s[1], height: s[2], width: s[3], channelAxis: true }
    : { layout: 'NHWC', height: s[1], width: s[2], channels: s[3], channelAxis: true };
}

/** A declared value must agree with a fixed dimension; a free one takes the declared value. */
function pickDim(name: string, declared: number | undefined, fromShape: number, spec: TensorSpec) {
  if (declared === undefined) {
    if (fromShape === FREE_DIM) {
      throw new ImageMetadataError(
        `input '${spec.name}' ${formatShape(spec.shape)} leaves the ${name} free; declare it in "image"`,
      );
    }
    return fromShape;
  }
  if (fromShape !== FREE_DIM && fromShape !== declared) {
    throw new ImageMetadataError(
      `${name} ${declared} does not match input '${spec.name}' ${formatShape(spec.shape)}`,
    );
  }
  return declared;
}

function perChannel(name: string, value: unknown, channels: number): number[] {
  const list = typeof value === 'number' ? new Array<number>(channels).fill(value) : value;
  if (
    !Array.isArray(list) ||
    list.length !== channels ||
    !list.every((v) => typeof v === 'number' && Number.isFinite(v))
  ) {
    throw new ImageMetadataError(
      `"${name}" must be a number or ${channels} numbers (one per channel), got ${JSON.stringify(value)}`,
    );
  }
  return list as number[];
}

function readNormalization(
  block: ImageBlock,
  dtype: 'float32' | 'int32',
  channels: number,
): PixelNormalization {
  const { scale, mean, std } = block;
  const declared = scale !== undefined || mean !== undefined || std !== undefined;
  if (dtype === 'int32') {
    if (declared) {
      throw new ImageMetadataError(
        'the input is int32 and takes the raw 0-255 values; remove "scale", "mean" and "std"',
      );
    }
    return { kind: 'raw' };
  }
  if (scale !== undefined) {
    if (mean !== undefined || std !== undefined) {
      throw new ImageMetadataError('declare either "scale" or "mean" and "std", not both');
    }
    const ok =
      Array.isArray(scale) &&
      scale.length === 2 &&
      scale.every((v) => typeof v === 'number' && Number.isFinite(v)) &&
      scale[0] !== scale[1];
    if (!ok) {
      throw new ImageMetadataError(
        `"scale" must be [low, high], the range 0-255 maps onto (e.g. [0, 1] or [-1, 1]), got ${JSON.stringify(scale)}`,
      );
    }
    return { kind: 'scale', low: scale[0], high: scale[1] };
  }
  if (mean !== undefined || std !== undefined) {
    if (mean === undefined || std === undefined) {
      throw new ImageMetadataError('"mean" and "std" go together (applied to 0-255 values)');
    }
    const stds = perChannel('std', std, channels);
    if (stds.some((v) => v <= 0)) {
      throw new ImageMetadataError(`"std" must be positive, got ${JSON.stringify(std)}`);
    }
    return { kind: 'standardize', mean: perChannel('mean', mean, channels), std: stds };
  }
  return { kind: 'raw' };
}

function checkShapeOfBlock(block: Record<string, unknown>): ImageBlock {
  const unknown = Object.keys(block).filter((key) => !KEYS.includes(key));
  if (unknown.length > 0) {
    throw new ImageMetadataError(
      `unknown key(s) ${unknown.join(', ')}; the keys are ${KEYS.join(', ')}`,
    );
  }
  const { input, size, channels, invert } = block;
  if (input !== undefined && (typeof input !== 'string' || input === '')) {
    throw new ImageMetadataError(`"input" must be an input name, got ${JSON.stringify(input)}`);
  }
  const okSize =
    size === undefined ||
    (Array.isArray(size) &&
      size.length === 2 &&
      size.every((v) => Number.isInteger(v) && (v as number) > 0 && (v as number) <= 16384));
  if (!okSize) {
    throw new ImageMetadataError(
      `"size" must be [height, width] in pixels (1-16384), got ${JSON.stringify(size)}`,
    );
  }
  if (channels !== undefined && !isChannels(channels)) {
    throw new ImageMetadataError(
      `"channels" must be 1 (grayscale) or 3 (RGB), got ${JSON.stringify(channels)}`,
    );
  }
  if (invert !== undefined && typeof invert !== 'boolean') {
    throw new ImageMetadataError(`"invert" must be true or false, got ${JSON.stringify(invert)}`);
  }
  return block as ImageBlock;
}

/**
 * Resolves a model's `image` block against its input signature. Throws an Error whose message
 * says what to fix; called at load (a bad block fails the model) and cached per model after.
 */
export function resolveImagePreprocessing(raw: unknown, inputs: TensorSpec[]): ImagePreprocessing {
  if (!isObject(raw)) {
    throw new ImageMetadataError(`must be an object such as ${IMAGE_BLOCK_EXAMPLE}`);
  }
  const block = checkShapeOfBlock(raw);
  const spec = pickInput(block, inputs);
  if (spec.dtype !== 'float32' && spec.dtype !== 'int32') {
    throw new ImageMetadataError(
      `input '${spec.name}' is ${spec.dtype}; images feed float32 or int32 inputs`,
    );
  }
  const shape = readLayout(spec);
  const height = pickDim('height', block.size?.[0], shape.height, spec);
  const width = pickDim('width', block.size?.[1], shape.width, spec);
  const channels = shape.channelAxis
    ? pickDim('channels', block.channels, shape.channels, spec)
    : pickDim('channels', block.channels, 1, spec);
  if (!isChannels(channels)) {
    throw new ImageMetadataError(
      `input '${spec.name}' ${formatShape(spec.shape)} has ${channels} channels; images give 1 or 3`,
    );
  }
  return {
    input: spec.name,
    dtype: spec.dtype,
    height,
    width,
    channels,
    layout: shape.layout,
    rank: shape.channelAxis ? 4 : 3,
    normalization: readNormalization(block, spec.dtype, channels),
    invert: block.invert ?? false,
  };
}

/** Load-time check of a model's metadata: a model without an `image` block is simply not an image model. */
export function checkImageMetadata(metadata: Record<string, unknown>, inputs: TensorSpec[]): void {
  if (metadata.image !== undefined) resolveImagePreprocessing(metadata.image, inputs);
}
