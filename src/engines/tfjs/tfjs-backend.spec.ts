import * as tf from '@tensorflow/tfjs-core';
import { selectBackend } from './tfjs-backend';

describe('the wasm heap guard', () => {
  beforeAll(() => selectBackend('wasm'));

  it('should refuse an allocation of 4 GiB, which tfjs-wasm would wrap to a small one', () => {
    // 64 x 4096 x 4096 float32 = 2^32 bytes: as an int32 size that is 0.
    const images = tf.ones([64, 16, 16, 1]);
    expect(() => tf.image.resizeNearestNeighbor(images as tf.Tensor4D, [4096, 4096])).toThrow(
      new RangeError(
        'wasm heap cannot allocate 4294967296 bytes: more than its 4294901760 bytes at most',
      ),
    );
    images.dispose();
  });

  it('should keep guarding after the allocator binds itself on its first call', () => {
    tf.tidy(() => tf.add(tf.ones([3]), tf.ones([3])).dataSync());
    expect(() => tf.zeros([2 ** 20, 2 ** 10])).toThrow(
      /^wasm heap cannot allocate 4294967296 bytes/,
    );
    expect(Array.from(tf.tidy(() => tf.add(tf.ones([3]), tf.ones([3])).dataSync()))).toEqual([
      2, 2, 2,
    ]);
  });
});
