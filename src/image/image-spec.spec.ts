import { TensorSpec } from '../tensor/signature';
import { checkImageMetadata, resolveImagePreprocessing } from './image-spec';

const input = (shape: number[], dtype = 'float32', name = 'x'): TensorSpec => ({
  name,
  dtype,
  shape,
});

describe(resolveImagePreprocessing.name, () => {
  it('should take size, channels and layout from the input when the block leaves them out', () => {
    expect(resolveImagePreprocessing({ scale: [0, 1] }, [input([-1, 28, 28, 1])])).toEqual({
      input: 'x',
      dtype: 'float32',
      height: 28,
      width: 28,
      channels: 1,
      layout: 'NHWC',
      rank: 4,
      normalization: { kind: 'scale', low: 0, high: 1 },
      invert: false,
    });
  });

  it('should read channels first from an NCHW shape and spread a single mean/std over channels', () => {
    const pre = resolveImagePreprocessing({ mean: 127.5, std: 127.5 }, [input([-1, 3, 224, 224])]);
    expect(pre).toMatchObject({ layout: 'NCHW', channels: 3, height: 224, width: 224 });
    expect(pre.normalization).toEqual({
      kind: 'standardize',
      mean: [127.5, 127.5, 127.5],
      std: [127.5, 127.5, 127.5],
    });
  });

  it('should fill free dimensions from the block and name the image input among several', () => {
    const pre = resolveImagePreprocessing(
      { input: 'pixels', size: [64, 32], channels: 3, invert: true },
      [input([-1], 'float32', 'scale'), input([-1, -1, -1, -1], 'int32', 'pixels')],
    );
    expect(pre).toMatchObject({
      input: 'pixels',
      dtype: 'int32',
      height: 64,
      width: 32,
      channels: 3,
      normalization: { kind: 'raw' },
      invert: true,
    });
  });

  it.each([
    [{ scale: [0, 1], chanels: 1 }, [-1, 28, 28, 1], /unknown key\(s\) chanels; the keys are/],
    [{ size: [32, 32] }, [-1, 28, 28, 1], /height 32 does not match input 'x' \[-1,28,28,1\]/],
    [{}, [-1, -1, -1, 3], /leaves the height free; declare it in "image"/],
    [{ channels: 2 }, [-1, 28, 28, 1], /"channels" must be 1 \(grayscale\) or 3 \(RGB\)/],
    [{ scale: [1, 1] }, [-1, 28, 28, 1], /"scale" must be \[low, high\]/],
    [{ scale: [0, 1], mean: [0] }, [-1, 28, 28, 1], /either "scale" or "mean" and "std"/],
    [{ mean: [0, 0, 0], std: [1, 0, 1] }, [-1, 8, 8, 3], /"std" must be positive/],
    [{ mean: [0, 0], std: [1, 1, 1] }, [-1, 8, 8, 3], /"mean" must be a number or 3 numbers/],
    [{ input: 'y' }, [-1, 28, 28, 1], /"input" 'y' is not an input of the model \(x\)/],
    [{}, [-1, 784], /has shape \[-1,784\]; an image input needs \[N,H,W,C\]/],
    [{}, [-1, 8, 8, 4], /has 4 channels; images give 1 or 3/],
    ['yes', [-1, 8, 8, 1], /must be an object such as/],
  ])('should refuse %j for an input shaped %j', (block, shape, message) => {
    expect(() => resolveImagePreprocessing(block, [input(shape)])).toThrow(message);
  });

  it('should refuse scale on an int32 input, which takes raw 0-255 values', () => {
    expect(() =>
      resolveImagePreprocessing({ scale: [0, 1] }, [input([-1, 8, 8, 1], 'int32')]),
    ).toThrow(/the input is int32 and takes the raw 0-255 values/);
  });

  it('should prefix every message with where the mistake is', () => {
    expect(() => checkImageMetadata({ image: { size: 'big' } }, [input([-1, 8, 8, 1])])).toThrow(
      /^metadata.json: "image": "size" must be \[height, width\]/,
    );
    expect(() => checkImageMetadata({ labels: ['a'] }, [input([-1, 4])])).not.toThrow();
  });
});
