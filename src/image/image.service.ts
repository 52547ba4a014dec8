import { Injectable, Optional } from '@nestjs/common';
import sharp from 'sharp';
import { AppConfig } from '../config/app-config';
import { ServingError } from '../errors/serving-error';
import { allocate, packTyped } from '../tensor/storage';
import { EncodedTensor, Tensor } from '../tensor/tensor';
import { TensorSpec } from '../tensor/signature';
import { decodeSlots } from './decode-slots';
import { decodeImage, ImageHeader, readImageHeader } from './image-decoder';
import { ImageObserver } from './image-observer';
import { decodeBase64, imageInstances } from './image-instances';
import { packPixels } from './image-pixels';
import { IMAGE_BLOCK_EXAMPLE, ImagePreprocessing, resolveImagePreprocessing } from './image-spec';

/**
 * An interlaced PNG or progressive JPEG counts this many times its pixels against
 * IMAGE_MAX_TOTAL_PIXELS: libvips decodes it whole instead of in strips (measured here on a black
 * 5000x5000 image: 6x the CPU of the plain PNG, 10x for JPEG, whose plain form shrinks on load).
 * 4, not 10, so that the default budget (4 x IMAGE_MAX_PIXELS) still admits one progressive
 * photo at the per-image limit.
 */
export const PROGRESSIVE_WEIGHT = 4;

/** IMAGE_MAX_TOTAL_PIXELS when unset: one image at the per-image limit, even progressive. */
export const maxTotalPixels = (config: AppConfig): number =>
  config.IMAGE_MAX_TOTAL_PIXELS ?? PROGRESSIVE_WEIGHT * config.IMAGE_MAX_PIXELS;

/**
 * What preprocessing reads of a model: the core's ServedModel, seen from the image layer below
 * it (which may not import the core).
 */
export interface ImageModel {
  readonly name: string;
  readonly metadata: Record<string, unknown>;
  readonly signature: { readonly inputs: TensorSpec[] };
}

/**
 * Turns image files into a model's input tensor, as the model's `metadata.json` "image" block
 * says. Every header is read first and the request refused if its images hold more pixels than
 * IMAGE_MAX_TOTAL_PIXELS; then decoding and resizing run in libvips on libuv's threadpool, a
 * few at a time process-wide (decodeSlots), stopping when the client leaves or the deadline
 * passes. Only packing the small resized pixels runs on the main thread.
 */
@Injectable()
export class ImageService {
  /** Resolved once per loaded model (the block was already checked when the model loaded). */
  private readonly resolved = new WeakMap<ImageModel, ImagePreprocessing>();

  constructor(
    private readonly config: AppConfig,
    @Optional() private readonly observer?: ImageObserver,
  ) {
    // Every uploaded image is a new one: libvips' operation cache (up to 50 MB by default) would
    // only hold memory for images never seen again.
    sharp.cache(false);
  }

  /** The model's image preprocessing, or a 400 that says how to declare one. */
  preprocessingOf(model: ImageModel): ImagePreprocessing {
    const cached = this.resolved.get(model);
    if (cached) return cached;
    if (model.metadata.image === undefined) {
      throw ServingError.invalid(
        `model '${model.name}' takes no images: its metadata.json has no "image" block. To send it images, declare how an image becomes its input, e.g. ${IMAGE_BLOCK_EXAMPLE} (see docs/images.md)`,
      );
    }
    const pre = resolveImagePreprocessing(model.metadata.image, model.signature.inputs);
    this.resolved.set(model, pre);
    return pre;
  }

  /**
   * The images of a row-format request (`{"b64": ...}` instances or uploaded files), or
   * undefined when it holds none. For a model with one input, `{"<input>": {"b64": ...}}` too.
   */
  findImages(model: ImageModel, instances: unknown[]): Buffer[] | undefined {
    const { inputs } = model.signature;
    const declared = (model.metadata.image as { input?: unknown } | undefined)?.input;
    const input =
      typeof declared === 'string' ? declared : inputs.length === 1 ? inputs[0].name : undefined;
    return imageInstances(instances, input);
  }

  /**
   * A row-format request's images (one per instance) as the model's inputs: only for a model
   * whose image input is its only input, since an image cannot give the others.
   */
  async encodeRows(
    model: ImageModel,
    images: Buffer[],
    signal?: AbortSignal,
  ): Promise<EncodedTensor[]> {
    const pre = this.preprocessingOf(model);
    const others = model.signature.inputs.filter((spec) => spec.name !== pre.input);
    if (others.length > 0) {
      throw ServingError.invalid(
        `model '${model.name}' also takes ${others.map((s) => `'${s.name}'`).join(', ')}, which an image cannot give; send all its inputs as tensors`,
      );
    }
    return [await this.encodeInput(model, pre.input, images, 'instances', signal)];
  }

  /**
   * A V2 BYTES input holding image files: base64 strings in JSON, raw bytes in the binary form
   * (the V2 mapper cuts those into elements). One image per element, in batch order. Undefined
   * for a model without an image block.
   */
  encodeBytes(
    model: ImageModel,
    input: BytesInput,
    where: string,
    signal?: AbortSignal,
  ): Promise<EncodedTensor> | undefined {
    // A model without an image block takes no files: the codec's datatype error says so.
    if (model.metadata.image === undefined) return undefined;
    const count = imageCount(input, where);
    const elements = input.elements ?? base64Elements(input, count, where);
    return this.encodeInput(model, input.name, elements, where, signal);
  }

  /**
   * Decodes a batch of images into the model's image input (one image per row), shaped and typed
   * as the input (its preprocessing was resolved from the signature). The values then go through
   * tensor/storage's packTyped like any other typed values, taken as they are (no copy).
   */
  async encodeInput(
    model: ImageModel,
    input: string,
    images: Buffer[],
    where: string,
    signal?: AbortSignal,
  ): Promise<EncodedTensor> {
    const pre = this.preprocessingOf(model);
    // Before any decoding: ModelService.infer checks MAX_BATCH too, but only after the work.
    if (images.length > this.config.MAX_BATCH) {
      throw ServingError.tooLarge(
        `Too many instances: ${images.length}; at most MAX_BATCH=${this.config.MAX_BATCH} per request`,
      );
    }
    if (input !== pre.input) {
      throw ServingError.invalid(
        `${where}: images feed input '${pre.input}' of model '${model.name}' (its metadata.json "image" block), not '${input}'`,
      );
    }
    const pixels = await this.decodeAll(images, pre, where, signal);
    const tensor = toTensor(pixels, pre);
    return packTyped(
      pre.input,
      pre.dtype,
      tensor.shape,
      tensor,
      (i) => `image input '${pre.input}': element ${i} (flat index)`,
    );
  }

  /**
   * Every header first, then the budget, then the pixels. The request's abort signal (client
   * gone, deadline passed) and the first failing image stop every decode not yet started.
   */
  private async decodeAll(
    images: Buffer[],
    pre: ImagePreprocessing,
    where: string,
    request: AbortSignal | undefined,
  ): Promise<Uint8Array[]> {
    const stop = new AbortController();
    const forward = () => stop.abort(request?.reason);
    request?.addEventListener('abort', forward, { once: true });
    if (request?.aborted) forward();
    const slots = decodeSlots();
    const owner = {};
    try {
      const headers = await Promise.all(
        images.map((bytes, i) =>
          slots.run(owner, stop.signal, () =>
            readImageHeader(bytes, this.config.IMAGE_MAX_PIXELS, `${where}[${i}]`),
          ),
        ),
      ).catch((error: unknown) => {
        stop.abort(error);
        throw error;
      });
      this.checkBudget(headers);
      return await Promise.all(
        images.map((bytes, i) =>
          this.decodeOne(bytes, headers[i], pre, `${where}[${i}]`, owner, stop),
        ),
      );
    } finally {
      request?.removeEventListener('abort', forward);
    }
  }

  private async decodeOne(
    bytes: Buffer,
    header: ImageHeader,
    pre: ImagePreprocessing,
    where: string,
    owner: object,
    stop: AbortController,
  ): Promise<Uint8Array> {
    let started = false;
    try {
      const pixels = await decodeSlots().run(owner, stop.signal, () => {
        started = true;
        return decodeImage(bytes, header, pre, this.config.IMAGE_MAX_PIXELS, where);
      });
      this.observer?.observeDecodes('ok', 1);
      return pixels;
    } catch (error) {
      this.observer?.observeDecodes(started ? 'failed' : 'skipped', 1);
      if (started) stop.abort(error);
      throw error;
    }
  }

  /** Refuses the request, before any decode, when its images hold more than the budget. */
  private checkBudget(headers: ImageHeader[]): void {
    const budget = maxTotalPixels(this.config);
    let total = 0;
    let progressive = 0;
    for (const { width, height, progressive: whole } of headers) {
      total += width * height * (whole ? PROGRESSIVE_WEIGHT : 1);
      if (whole) progressive++;
    }
    if (total <= budget) return;
    const weighted =
      progressive > 0
        ? ` (${progressive} interlaced or progressive, counted ${PROGRESSIVE_WEIGHT}x: they are decoded whole)`
        : '';
    throw ServingError.tooLarge(
      `the images in this request hold ${total} pixels${weighted}; at most ${budget} per request (IMAGE_MAX_TOTAL_PIXELS): send fewer or smaller images per request`,
    );
  }
}

/** A V2 input as the V2 mapper has it: JSON data, or BYTES elements cut from the binary data. */
export interface BytesInput {
  name: string;
  shape: number[];
  data?: unknown[];
  elements?: Buffer[];
}

/** The number of images a V2 BYTES input carries: shape [N] or [N,1], one file per element. */
function imageCount(input: BytesInput, where: string): number {
  const { shape } = input;
  if (!((shape.length === 1 || (shape.length === 2 && shape[1] === 1)) && shape[0] > 0)) {
    throw ServingError.invalid(
      `${where}: a BYTES input of images takes shape [N] or [N,1], one image file per element; got [${shape.join(',')}]`,
    );
  }
  return shape[0];
}

/** JSON BYTES elements of an image input: base64 strings (raw bytes cannot be JSON strings). */
function base64Elements(input: BytesInput, count: number, where: string): Buffer[] {
  const flat = (input.data ?? []).map((v) => (Array.isArray(v) && v.length === 1 ? v[0] : v));
  if (flat.length !== count) {
    throw ServingError.invalid(
      `${where}: shape [${input.shape.join(',')}] holds ${count} image(s) but data has ${flat.length}`,
    );
  }
  return flat.map((text, i) => decodeBase64(text, `${where}.data[${i}]`));
}

/** The neutral tensor of a batch of decoded images, laid out as the input wants it. */
export function toTensor(pixels: Uint8Array[], pre: ImagePreprocessing): Tensor {
  const perImage = pre.height * pre.width * pre.channels;
  const data = allocate(pre.dtype, pixels.length * perImage) as Float32Array | Int32Array;
  pixels.forEach((image, i) => packPixels(image, pre, data, i * perImage));
  const n = pixels.length;
  const shape =
    pre.rank === 3
      ? [n, pre.height, pre.width]
      : pre.layout === 'NCHW'
        ? [n, pre.channels, pre.height, pre.width]
        : [n, pre.height, pre.width, pre.channels];
  return { name: pre.input, dtype: pre.dtype, shape, data };
}
