import sharp from 'sharp';
import { crc32 } from 'node:zlib';
import { loadConfig } from '../config/app-config';
import { TensorSpec } from '../tensor/signature';
import { ServingError } from '../errors/serving-error';
import { ImageObserver } from './image-observer';
import { ImageModel, ImageService, maxTotalPixels } from './image.service';

/** A model as ImageService sees it: a name, its input signature and its metadata. */
const model = (image: unknown, inputs: TensorSpec[]): ImageModel => ({
  name: 'm',
  metadata: image === undefined ? {} : { image },
  signature: { inputs },
});

/** A lossless PNG holding exactly these bytes (height x width x channels, interleaved). */
const png = (pixels: number[], width: number, height: number, channels: 1 | 3) =>
  sharp(Buffer.from(pixels), { raw: { width, height, channels } }).png().toBuffer();

// A 2x2 RGB image: pixel p has channel values 10+30p, 20+30p, 30+30p.
const RGB = [10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 110, 120];

describe(ImageService.name, () => {
  const service = new ImageService(loadConfig({ IMAGE_MAX_PIXELS: '10000' }));

  describe('exact tensors for an image the size of the input', () => {
    it('should scale one gray channel from 0-255 onto [0, 1] (NHWC)', async () => {
      const m = model({ scale: [0, 1] }, [{ name: 'x', dtype: 'float32', shape: [-1, 2, 2, 1] }]);
      const [tensor] = await service.encodeRows(m, [await png([0, 51, 102, 255], 2, 2, 1)]);
      expect(tensor.shape).toEqual([1, 2, 2, 1]);
      expect(tensor.data).toEqual(Float32Array.from([0, 0.2, 0.4, 1]));
    });

    it('should give one channel for an 8-bit gray PNG even when the input has no channel axis', async () => {
      const m = model({ scale: [-1, 1] }, [{ name: 'x', dtype: 'float32', shape: [-1, 2, 2] }]);
      const [tensor] = await service.encodeRows(m, [await png([0, 51, 204, 255], 2, 2, 1)]);
      expect(tensor.shape).toEqual([1, 2, 2]);
      // -1 + v * 2 / 255: 0 -> -1, 51 -> -0.6, 204 -> 0.6, 255 -> 1
      expect(tensor.data).toEqual(Float32Array.from([-1, -0.6, 0.6, 1]));
    });

    it('should apply mean and std per channel to 0-255 values (NHWC)', async () => {
      const m = model({ mean: [10, 20, 30], std: [2, 4, 5] }, [
        { name: 'x', dtype: 'float32', shape: [-1, 2, 2, 3] },
      ]);
      const [tensor] = await service.encodeRows(m, [await png(RGB, 2, 2, 3)]);
      expect(tensor.shape).toEqual([1, 2, 2, 3]);
      // (v - mean[c]) / std[c], pixel by pixel, channels interleaved
      expect(tensor.data).toEqual(
        Float32Array.from([0, 0, 0, 15, 7.5, 6, 30, 15, 12, 45, 22.5, 18]),
      );
    });

    it('should lay channels out first when the input shape says so (NCHW)', async () => {
      const m = model({ mean: [10, 20, 30], std: [2, 4, 5] }, [
        { name: 'x', dtype: 'float32', shape: [-1, 3, 2, 2] },
      ]);
      const [tensor] = await service.encodeRows(m, [await png(RGB, 2, 2, 3)]);
      expect(tensor.shape).toEqual([1, 3, 2, 2]);
      expect(tensor.data).toEqual(
        Float32Array.from([0, 15, 30, 45, 0, 7.5, 15, 22.5, 0, 6, 12, 18]),
      );
    });

    it('should scale three channels, and stack several images into one batch', async () => {
      const m = model({ scale: [0, 255] }, [{ name: 'x', dtype: 'float32', shape: [-1, 2, 2, 3] }]);
      const image = await png(RGB, 2, 2, 3);
      const [tensor] = await service.encodeRows(m, [image, image]);
      expect(tensor.shape).toEqual([2, 2, 2, 3]);
      expect(tensor.data).toEqual(Float32Array.from([...RGB, ...RGB]));
    });

    it('should give an int32 input the raw 0-255 values, inverted when declared', async () => {
      const m = model({ invert: true }, [{ name: 'x', dtype: 'int32', shape: [-1, 2, 2, 1] }]);
      const [tensor] = await service.encodeRows(m, [await png([0, 51, 102, 255], 2, 2, 1)]);
      expect(tensor.dtype).toBe('int32');
      expect(tensor.data).toEqual(Int32Array.from([255, 204, 153, 0]));
    });

    it('should turn a colour image into the one channel the input wants, resized to its size', async () => {
      const m = model({ size: [2, 2], scale: [0, 255] }, [
        { name: 'x', dtype: 'float32', shape: [-1, -1, -1, 1] },
      ]);
      // 4x4 of one grey colour in RGB: resized to 2x2, one channel, the same grey.
      const [tensor] = await service.encodeRows(m, [await png(new Array(48).fill(128), 4, 4, 3)]);
      expect(tensor.shape).toEqual([1, 2, 2, 1]);
      expect(tensor.data).toEqual(Float32Array.from([128, 128, 128, 128]));
    });
  });

  describe('bad images and models', () => {
    const gray = model({ scale: [0, 1] }, [{ name: 'x', dtype: 'float32', shape: [-1, 2, 2, 1] }]);
    const encodeError = (m: ImageModel, bytes: Buffer) =>
      service.encodeRows(m, [bytes]).then(
        () => {
          throw new Error('expected a 400');
        },
        (error: unknown) => {
          expect(error).toMatchObject({ code: 'INVALID_ARGUMENT' });
          expect(error).toBeInstanceOf(ServingError);
          return (error as Error).message;
        },
      );

    it('should refuse a format other than JPEG, PNG or WebP before decoding it', async () => {
      const gif = Buffer.from('GIF89a\x01\x00\x01\x00\x00\x00\x00;', 'latin1');
      expect(await encodeError(gray, gif)).toMatch(
        /instances\[0\]: unsupported image format .* send JPEG, PNG, WebP/,
      );
    });

    it('should refuse a corrupt PNG with the decoder reason', async () => {
      const image = await png([0, 51, 102, 255], 2, 2, 1);
      const corrupt = Buffer.concat([image.subarray(0, 40), Buffer.alloc(20, 7)]);
      expect(await encodeError(gray, corrupt)).toMatch(
        /instances\[0\]: the PNG image could not be decoded \(.+\); send a valid JPEG, PNG, WebP file/,
      );
    });

    it('should refuse an image with more pixels than IMAGE_MAX_PIXELS before decoding it', async () => {
      const big = await png(new Array(200 * 100).fill(0), 200, 100, 1);
      expect(await encodeError(gray, big)).toMatch(
        /instances\[0\]: the PNG image is 200x100 = 20000 pixels, over the limit of 10000 \(IMAGE_MAX_PIXELS\)/,
      );
    });

    it('should refuse a decompression bomb from its header alone', async () => {
      // A valid 2x2 PNG whose header is rewritten to claim 30000x30000 (the IHDR CRC recomputed).
      const bomb = Buffer.from(await png([0, 0, 0, 0], 2, 2, 1));
      bomb.writeUInt32BE(30000, 16);
      bomb.writeUInt32BE(30000, 20);
      bomb.writeUInt32BE(crc32(bomb.subarray(12, 29)), 29);
      const defaults = new ImageService(loadConfig({}));
      const message = await defaults
        .encodeRows(gray, [bomb])
        .catch((error: Error) => error.message);
      expect(message).toMatch(/30000x30000 = 900000000 pixels, over the limit of 25000000/);
    });

    it('should tell how to declare an image block when the model has none', async () => {
      const plain = model(undefined, [{ name: 'x', dtype: 'float32', shape: [-1, 4] }]);
      expect(await encodeError(plain, await png([0], 1, 1, 1))).toMatch(
        /model 'm' takes no images: its metadata.json has no "image" block.*"image": \{ "size"/,
      );
    });
  });

  describe(ImageService.prototype.findImages.name, () => {
    const gray = model({ scale: [0, 1] }, [{ name: 'x', dtype: 'float32', shape: [-1, 2, 2, 1] }]);

    it('should find b64 instances, bare or under the input name, and leave numbers alone', () => {
      const b64 = Buffer.from('png bytes').toString('base64');
      expect(service.findImages(gray, [{ b64 }, { x: { b64 } }])).toEqual([
        Buffer.from('png bytes'),
        Buffer.from('png bytes'),
      ]);
      expect(service.findImages(gray, [[[[0]]]])).toBeUndefined();
    });

    it('should refuse a mix of images and numbers, and base64 with foreign characters', () => {
      expect(() => service.findImages(gray, [{ b64: 'AAAA' }, [1]])).toThrow(
        /instances\[1\] is not an image but instances\[0\] is/,
      );
      expect(() => service.findImages(gray, [{ b64: 'AA*A' }])).toThrow(
        /instances\[0\].b64: not valid base64/,
      );
    });
  });
});

describe('IMAGE_MAX_TOTAL_PIXELS', () => {
  it('should default to 4 x IMAGE_MAX_PIXELS (one progressive image at the per-image limit) and follow a set value', () => {
    expect(maxTotalPixels(loadConfig({}))).toBe(100_000_000);
    expect(maxTotalPixels(loadConfig({ IMAGE_MAX_PIXELS: '1000' }))).toBe(4000);
    expect(maxTotalPixels(loadConfig({ IMAGE_MAX_TOTAL_PIXELS: '7' }))).toBe(7);
  });

  it('should refuse images over the budget before decoding any, and count what it decodes', async () => {
    const outcomes: string[] = [];
    const observer = { observeDecodes: (outcome: string) => outcomes.push(outcome) };
    const service = new ImageService(
      loadConfig({ IMAGE_MAX_TOTAL_PIXELS: '8' }),
      observer as ImageObserver,
    );
    const m = model({ scale: [0, 1] }, [{ name: 'x', dtype: 'float32', shape: [-1, 2, 2, 1] }]);
    const image = await png([0, 51, 102, 255], 2, 2, 1);
    await expect(service.encodeRows(m, [image, image])).resolves.toHaveLength(1);
    expect(outcomes).toEqual(['ok', 'ok']);
    await expect(service.encodeRows(m, [image, image, image])).rejects.toThrow(
      'the images in this request hold 12 pixels; at most 8 per request (IMAGE_MAX_TOTAL_PIXELS)',
    );
    expect(outcomes).toEqual(['ok', 'ok']);
  });

  it("should skip the images not yet decoded once the request's signal aborts (deadline), with its reason", async () => {
    const abort = new AbortController();
    const deadline = new ServingError('DEADLINE_EXCEEDED', 'Request not answered within 5 ms');
    const outcomes: string[] = [];
    let accounted!: () => void;
    const allAccounted = new Promise<void>((resolve) => (accounted = resolve));
    // The deadline passes as the first image is decoded: the other nine must not be.
    const observer = {
      observeDecodes: (outcome: string) => {
        outcomes.push(outcome);
        abort.abort(deadline);
        if (outcomes.length === 10) accounted();
      },
    };
    const service = new ImageService(loadConfig({}), observer as ImageObserver);
    const m = model({ scale: [0, 1] }, [{ name: 'x', dtype: 'float32', shape: [-1, 2, 2, 1] }]);
    const image = await png([0, 51, 102, 255], 2, 2, 1);
    const encoding = service.encodeRows(m, Array(10).fill(image), abort.signal);
    await expect(encoding).rejects.toBe(deadline);
    // A decode already running when the signal aborted still ends (libvips cannot be stopped).
    await allAccounted;
    const decoded = outcomes.filter((o) => o === 'ok').length;
    // At most one decode per slot was already running when the signal aborted.
    expect(decoded).toBeLessThanOrEqual(4);
    expect(outcomes.filter((o) => o === 'skipped')).toHaveLength(10 - decoded);
  });
});
