import { ServedModel } from '../../core/catalog/served-model';
import { ModelSignature } from '../../tensor/signature';
import { checkExamplesVerb, encodeExamples, toClassifyResponse } from './tfserving.examples';

const modelWith = (signature: ModelSignature, labels?: string[]) =>
  ({ name: 'm', signature, labels }) as unknown as ServedModel;

describe(encodeExamples.name, () => {
  const grid = modelWith({
    inputs: [
      { name: 'grid', dtype: 'float32', shape: [-1, 2, 2] },
      { name: 'free', dtype: 'int32', shape: [-1, -1, 2] },
    ],
    outputs: [{ name: 'y', dtype: 'float32', shape: [-1, 1] }],
  });

  it("should fill an input's per-example shape row-major from a flat feature list, and keep nested values", () => {
    const [grid0, free] = encodeExamples(grid, 'regress', {
      examples: [
        { grid: [1, 2, 3, 4], free: [[1, 2]] },
        {
          grid: [
            [5, 6],
            [7, 8],
          ],
          free: [[3, 4]],
        },
      ],
    });
    expect(grid0.shape).toEqual([2, 2, 2]);
    expect(Array.from(grid0.data as Float32Array)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(free.shape).toEqual([2, 1, 2]);
  });

  it('should refuse a flat list for a shape with a free dimension, asking for it nested', () => {
    expect(() =>
      encodeExamples(grid, 'regress', { examples: [{ grid: [1, 2, 3, 4], free: [1, 2] }] }),
    ).toThrow(
      "examples[0].free: a flat list cannot fill input 'free' of shape [-1,-1,2] (more than one dimension, one of them free); send it nested",
    );
  });
});

describe(checkExamplesVerb.name, () => {
  it('should let a single [-1] output regress, and a bool one not', () => {
    const scalar = (dtype: string) =>
      modelWith({
        inputs: [{ name: 'x', dtype: 'float32', shape: [-1] }],
        outputs: [{ name: 'y', dtype, shape: [-1] }],
      });
    expect(() => checkExamplesVerb(scalar('float32'), 'regress')).not.toThrow();
    expect(() => checkExamplesVerb(scalar('bool'), 'regress')).toThrow(/cannot regress/);
  });
});

describe(toClassifyResponse.name, () => {
  it('should pair each label with its score, per row', () => {
    const model = modelWith({ inputs: [], outputs: [] }, ['a', 'b']);
    const output = {
      name: 'p',
      dtype: 'float32' as const,
      shape: [2, 2],
      data: new Float32Array([0.25, 0.75, 1, 0]),
    };
    expect(toClassifyResponse(model, output)).toEqual({
      results: [
        [
          ['a', 0.25],
          ['b', 0.75],
        ],
        [
          ['a', 1],
          ['b', 0],
        ],
      ],
    });
  });
});
