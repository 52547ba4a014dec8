import type { EngineModel } from '../../engines/engine';
import type { ModelSignature } from '../../tensor/signature';
import type { Tensor } from '../../tensor/tensor';
import { fixedBatchOf, rowsProblem, runFixedBatch } from './fixed-batch';

const signature = (...inputs: number[][]): ModelSignature => ({
  inputs: inputs.map((shape, i) => ({ name: `in${i}`, dtype: 'float32', shape })),
  outputs: [{ name: 'y', dtype: 'float32', shape: [-1, 2] }],
});

const rowsOf = (rows: number[][], name = 'in0'): Tensor => ({
  name,
  dtype: 'float32',
  shape: [rows.length, rows[0]?.length ?? 0],
  data: Float32Array.from(rows.flat()),
});

/**
 * A model that accepts exactly its fixed batch, as ONNX Runtime does, and answers each row
 * [a, b] with [a + b, a * b]; `output` reshapes what it returns for the cases that cannot join.
 */
function fakeModel(fixed: number, output = (rows: number[][]): Tensor => rowsOf(rows, 'y')) {
  const batches: number[][][] = [];
  const model: Pick<EngineModel, 'run' | 'signature'> = {
    signature: signature([fixed, 2]),
    run: async ([x]) => {
      if (x.shape[0] !== fixed) throw new Error(`Got invalid dimensions: ${x.shape[0]}`);
      const rows = Array.from({ length: x.shape[0] }, (_, r) =>
        Array.from(x.data.slice(2 * r, 2 * r + 2) as Float32Array),
      );
      batches.push(rows);
      return [output(rows.map(([a, b]) => [a + b, a * b]))];
    },
  };
  return { model, batches };
}

describe(fixedBatchOf.name, () => {
  it('should be the first input’s first dimension when it is a number', () => {
    expect(fixedBatchOf(signature([1, 4]))).toBe(1);
    expect(fixedBatchOf(signature([2, 3], [-1]))).toBe(2);
    expect(fixedBatchOf(signature([-1, 4]))).toBeUndefined();
    expect(fixedBatchOf(signature([]))).toBeUndefined();
    expect(fixedBatchOf(signature())).toBeUndefined();
  });
});

describe(rowsProblem.name, () => {
  const x = (rows: number) => ({ name: 'x', shape: [rows, 4] });

  it('should take positive multiples of a fixed batch and nothing else', () => {
    expect(rowsProblem("model 'm'", 2, [x(2)])).toBeUndefined();
    expect(rowsProblem("model 'm'", 2, [x(6)])).toBeUndefined();
    expect(rowsProblem("model 'm'", 2, [x(3)])).toBe(
      "model 'm' has a fixed batch size of 2; send a multiple of 2 instances (got 3)",
    );
    expect(rowsProblem("model 'm'", 1, [x(0)])).toBe(
      "model 'm' has a fixed batch size of 1; send a positive multiple of 1 instances (got 0)",
    );
    expect(rowsProblem("model 'm'", undefined, [x(3)])).toBeUndefined();
  });

  it('should need the same rows in every input of a chunked or paired request only', () => {
    const uneven = [x(2), { name: 'mask', shape: [1, 4] }];
    expect(rowsProblem("model 'm'", 1, uneven)).toBe(
      "model 'm' pairs its inputs row by row; every input needs the same 0-th dimension, got x: 2, mask: 1",
    );
    expect(rowsProblem("model 'm'", 2, uneven)).toBeUndefined(); // one run, the engine decides
    expect(rowsProblem("model 'm'", undefined, uneven)).toBeUndefined();
    expect(rowsProblem("model 'm'", undefined, uneven, true)).toMatch(
      /pairs its inputs row by row/,
    );
  });
});

describe(runFixedBatch.name, () => {
  it('should run the rows in chunks of the fixed batch and join the outputs in order', async () => {
    const { model, batches } = fakeModel(2);
    const [y] = await runFixedBatch(
      model,
      [
        rowsOf([
          [1, 2],
          [3, 4],
          [5, 6],
          [7, 8],
        ]),
      ],
      'model m',
    );
    expect(batches).toEqual([
      [
        [1, 2],
        [3, 4],
      ],
      [
        [5, 6],
        [7, 8],
      ],
    ]);
    expect(y.shape).toEqual([4, 2]);
    expect(Array.from(y.data as Float32Array)).toEqual([3, 2, 7, 12, 11, 30, 15, 56]);
  });

  it('should run a request of exactly the fixed batch, or a model without one, in one run', async () => {
    const { model, batches } = fakeModel(2);
    await runFixedBatch(
      model,
      [
        rowsOf([
          [1, 2],
          [3, 4],
        ]),
      ],
      'model m',
    );
    expect(batches).toHaveLength(1);
    const free = { ...fakeModel(3).model, signature: signature([-1, 2]) };
    const [y] = await runFixedBatch(
      free,
      [
        rowsOf([
          [1, 1],
          [2, 2],
          [3, 3],
        ]),
      ],
      'model m',
    );
    expect(y.shape).toEqual([3, 2]);
  });

  it('should refuse, never guess, when a chunk’s output does not start with the fixed batch', async () => {
    const scalar = fakeModel(1, ([[sum]]) => ({
      name: 'y',
      dtype: 'float32',
      shape: [],
      data: Float32Array.of(sum),
    }));
    await expect(runFixedBatch(scalar.model, [rowsOf([[1, 2]])], 'model m')).resolves.toHaveLength(
      1,
    );
    await expect(
      runFixedBatch(
        scalar.model,
        [
          rowsOf([
            [1, 2],
            [3, 4],
          ]),
        ],
        'model m',
      ),
    ).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      message:
        "model m has a fixed batch size of 1, but its output 'y' is [] for 1 row(s), so the chunks of 2 instances cannot be joined; send 1 instance(s) per request",
    });
    // Per-chunk outputs whose inner shape changes (detections, say) cannot be stacked either.
    let calls = 0;
    const ragged = fakeModel(1, () => {
      calls++;
      return { name: 'y', dtype: 'float32', shape: [1, calls], data: new Float32Array(calls) };
    });
    await expect(
      runFixedBatch(
        ragged.model,
        [
          rowsOf([
            [1, 2],
            [3, 4],
          ]),
        ],
        'model m',
      ),
    ).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: expect.stringContaining("its output 'y' is [1,2] for 1 row(s)"),
    });
  });

  it('should refuse inputs whose rows differ instead of slicing past the end of one', async () => {
    const { model, batches } = fakeModel(1);
    const inputs = [
      rowsOf([
        [1, 2],
        [3, 4],
      ]),
      rowsOf([[5, 6]], 'in1'),
    ];
    await expect(runFixedBatch(model, inputs, 'model m')).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: expect.stringContaining('pairs its inputs row by row'),
    });
    expect(batches).toHaveLength(0);
  });
});
