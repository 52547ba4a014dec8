import sharp, { Metadata } from 'sharp';
import { ServingError } from '../errors/serving-error';
import { ImagePreprocessing } from './image-spec';

/** The formats accepted, by their leading bytes. Anything else (SVG, TIFF, GIF...) is refused before libvips sees it. */
const SIGNATURES: { format: string; matches: (b: Buffer) => boolean }[] = [
  {
    format: 'JPEG',
    matches: (b) => b.length > 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff,
  },
  {
    format: 'PNG',
    matches: (b) =>
      b.length > 8 && b.subarray(0, 8).equals(Buffer.from('\x89PNG\r\n\x1a\n', 'latin1')),
  },
  {
    format: 'WebP',
    matches: (b) =>
      b.length > 12 &&
      b.toString('latin1', 0, 4) === 'RIFF' &&
      b.toString('latin1', 8, 12) === 'WEBP',
  },
];
export const IMAGE_FORMATS = SIGNATURES.map((s) => s.format).join(', ');

function sniff(bytes: Buffer, where: string): string {
  const found = SIGNATURES.find((s) => s.matches(bytes));
  if (!found) {
    const head = bytes.subarray(0, 8).toString('hex');
    throw ServingError.invalid(
      `${where}: unsupported image format (${bytes.length} bytes starting ${head || '(empty)'}); send ${IMAGE_FORMATS}`,
    );
  }
  return found.format;
}

/** What an image's header says, read before anything is decoded. */
export interface ImageHeader {
  format: string;
  width: number;
  height: number;
  /** An interlaced PNG or a progressive JPEG: libvips must decode it whole, not in strips. */
  progressive: boolean;
}

/**
 * Reads one image's header (sharp's metadata() decodes no pixels) and refuses an image over
 * `maxPixels`: a decompression bomb is refused before decoding.
 */
export async function readImageHeader(
  bytes: Buffer,
  maxPixels: number,
  where: string,
): Promise<ImageHeader> {
  const format = sniff(bytes, where);
  let meta: Metadata;
  try {
    meta = await sharp(bytes, { limitInputPixels: false }).metadata();
  } catch (error) {
    throw undecodable(format, error, where);
  }
  const { width = 0, height = 0, isProgressive = false } = meta;
  if (width * height > maxPixels) {
    throw ServingError.invalid(
      `${where}: the ${format} image is ${width}x${height} = ${width * height} pixels, over the limit of ${maxPixels} (IMAGE_MAX_PIXELS)`,
    );
  }
  return { format, width, height, progressive: isProgressive };
}

/** Everything libvips refuses is a broken file: truncated, corrupt, or lying about its format. */
function undecodable(format: string, error: unknown, where: string): ServingError {
  return ServingError.invalid(
    `${where}: the ${format} image could not be decoded (${(error as Error).message.split('\n')[0]}); send a valid ${IMAGE_FORMATS} file`,
  );
}

/**
 * Decodes one image (its header already read) and resizes it to the model's input size, giving
 * `height x width x channels` bytes. libvips runs in libuv's threadpool: the event loop only
 * waits for the promise. Resizing keeps the aspect ratio and crops the centre (`cover`), as most
 * image models' preprocessing does; EXIF orientation is applied first, so phone photos come out
 * upright.
 */
export async function decodeImage(
  bytes: Buffer,
  header: ImageHeader,
  pre: ImagePreprocessing,
  maxPixels: number,
  where: string,
): Promise<Uint8Array> {
  try {
    let pipeline = sharp(bytes, { limitInputPixels: maxPixels })
      .rotate()
      .resize(pre.width, pre.height, { fit: 'cover' })
      .removeAlpha();
    // libvips keeps a grayscale image in one band and a colour one in three: ask for the bands the
    // model wants, or .raw() hands back whatever the file had (3 bands for an 8-bit gray PNG).
    pipeline = pre.channels === 1 ? pipeline.toColourspace('b-w') : pipeline.toColourspace('srgb');
    const { data, info } = await pipeline
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
    if (info.channels !== pre.channels || data.length !== pre.width * pre.height * pre.channels) {
      throw new Error(
        `decoded ${info.width}x${info.height}x${info.channels}, expected ${pre.width}x${pre.height}x${pre.channels}`,
      );
    }
    return data;
  } catch (error) {
    const message = (error as Error).message;
    if (/pixel limit/i.test(message)) {
      throw ServingError.invalid(
        `${where}: the image has more pixels than IMAGE_MAX_PIXELS=${maxPixels}`,
      );
    }
    if (/^decoded /.test(message)) throw error;
    throw undecodable(header.format, error, where);
  }
}
