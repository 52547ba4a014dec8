import { PackedTree, PackRefusal, packNumericArrays, unpackTree } from './json-parse';
import { PackedBlock, packedArray, packedOf, unpackBlock } from '../../tensor/packed-array';
import { encodeColumns, encodeInstances } from '../../core/request-formats';
import { encodeV2Tensor } from '../v2/v2-codec';
import { encodeTensor } from '../../tensor/packing';
import { TensorSpec } from '../../tensor/signature';

const image = (h: number, w: number, c: number, at = (i: number) => (i % 17) / 16) => {
  let i = 0;
  return Array.from({ length: h }, () =>
    Array.from({ length: w }, () => Array.from({ length: c }, () => at(i++))),
  );
};

const packed = (result: PackedTree | PackRefusal): PackedTree => {
  if (!('blocks' in result)) throw new Error(`refused: ${JSON.stringify(result)}`);
  return result;
};

/** What a parse thread hands back for `value` (in a body, always an object), as the main thread sees it. */
const throughPacking = <T>(value: T, min = 4): T => {
  const body = JSON.parse(JSON.stringify({ value })) as unknown;
  return (unpackTree(packed(packNumericArrays(body, min))) as { value: T }).value;
};

const block: PackedBlock = { shape: [2, 3], data: Float64Array.from([1, -0, 2.5, 3, 4, 5]) };

describe('packedArray', () => {
  it('should read like the nested arrays it packs: isArray, instanceof, length, index, JSON', () => {
    const array = packedArray(block) as number[][];
    expect(Array.isArray(array)).toBe(true);
    expect(array instanceof Array).toBe(true);
    expect(array.length).toBe(2);
    expect(array[1]).toEqual([3, 4, 5]);
    expect(Object.is(array[0][1], -0)).toBe(true);
    expect(JSON.stringify(array)).toBe('[[1,0,2.5],[3,4,5]]');
    expect([...array].map((row) => row.length)).toEqual([3, 3]);
    expect(unpackBlock(block)).toEqual([
      [1, -0, 2.5],
      [3, 4, 5],
    ]);
  });

  it('should give its block to packedOf until something writes to it', () => {
    const array = packedArray(block);
    expect(packedOf(array)).toBe(block);
    expect(packedOf([[1]])).toBeUndefined();
    array[0] = 'changed';
    expect(packedOf(array)).toBeUndefined();
    expect(array).toEqual(['changed', [3, 4, 5]]);
  });
});

describe(packNumericArrays.name, () => {
  it('should take out rectangular numeric arrays and leave everything else as JSON.parse gave it', () => {
    const body = {
      model: 'm',
      instances: [image(2, 2, 2)],
      ragged: [[1, 2, 3], [4]],
      mixed: [1, 2, 'x', 4, 5],
      small: [1, 2],
      flags: [true, false, true, false],
      nested: { deep: [{ data: [9, 8, 7, 6, 5] }] },
    };
    const tree = packed(packNumericArrays(JSON.parse(JSON.stringify(body)), 4));
    expect(tree.blocks.map((b) => [b.path, b.block.shape])).toEqual([
      [['instances'], [1, 2, 2, 2]],
      [['nested', 'deep', 0, 'data'], [5]],
    ]);
    const rebuilt = unpackTree(tree) as typeof body;
    expect(packedOf(rebuilt.instances)).toBeDefined();
    expect(packedOf(rebuilt.ragged)).toBeUndefined();
    expect(JSON.stringify(rebuilt)).toBe(JSON.stringify(body));
  });

  it('should refuse a tree that packing leaves with more values than maxValues', () => {
    const hostile = { data: Array.from({ length: 100 }, () => [[]]) }; // 202 values, none packable
    expect(packNumericArrays(JSON.parse(JSON.stringify(hostile)), 4, 201)).toEqual({
      tooManyValues: 201,
    });
    expect(packed(packNumericArrays(JSON.parse(JSON.stringify(hostile)), 4, 202)).blocks).toEqual(
      [],
    );
    // A large image is one block: it counts as one value, whatever its size.
    const big = { instances: [image(64, 64, 3)] };
    expect(packed(packNumericArrays(JSON.parse(JSON.stringify(big)), 4, 10)).blocks).toHaveLength(
      1,
    );
  });

  it('should refuse to pack a body with a __proto__ key', () => {
    const value = JSON.parse('{"__proto__": {"x": 1}, "data": [1, 2, 3, 4]}') as unknown;
    expect(packNumericArrays(value, 1)).toEqual({ protoKey: true });
  });
});

describe('tensor codec on packed values', () => {
  const spec: TensorSpec = { name: 'image', dtype: 'float32', shape: [-1, 4, 4, 3] };
  const rows = (idx: readonly number[]) => `instances${idx.map((i) => `[${i}]`).join('')}`;

  it('should encode exactly what it encodes from the arrays, in every format', () => {
    const instances = [image(4, 4, 3), image(4, 4, 3, (i) => -(i + 1) / 7)];
    const packed = throughPacking(instances);
    expect(packedOf(packed)).toBeDefined();
    expect(encodeInstances([spec], packed)).toEqual(encodeInstances([spec], instances));
    expect(encodeColumns([spec], packed)).toEqual(encodeColumns([spec], instances));
    const named = instances.map((value) => ({ image: value }));
    expect(encodeInstances([spec], throughPacking(named))).toEqual(encodeInstances([spec], named));
    for (const dtype of [
      'float64',
      'float16',
      'int32',
      'int8',
      'uint8',
      'int64',
      'bool',
    ] as const) {
      const ints = [image(4, 4, 3, (i) => i % 2)];
      const typed = { ...spec, dtype };
      expect(encodeTensor(typed, throughPacking(ints), rows)).toEqual(
        encodeTensor(typed, ints, rows),
      );
    }
    const v2 = { name: 'image', shape: [2, 4, 4, 3], datatype: 'FP32' };
    for (const data of [instances, instances.flat(3)]) {
      expect(encodeV2Tensor(spec, { ...v2, data: throughPacking(data) }, 'inputs[0]')).toEqual(
        encodeV2Tensor(spec, { ...v2, data }, 'inputs[0]'),
      );
    }
  });

  it.each([
    [[2], [1, 4]],
    [[6], [1, 4]],
    [
      [3, 4],
      [1, 4],
    ],
    [
      [1, 5],
      [1, 4],
    ],
    [
      [1, 4, 1],
      [1, 4],
    ],
    [[2, 2], [4]],
    [
      [1, 2, 2],
      [1, 2, 2, 1],
    ],
    [
      [5, ...Array<number>(27).fill(1)],
      [1, 4],
    ],
    [
      [1, ...Array<number>(27).fill(1)],
      [1, 1],
    ],
  ])('should name a packed %j declared as %j exactly as the arrays do', (packedShape, shape) => {
    const size = packedShape.reduce((a, b) => a * b, 1);
    const block: PackedBlock = {
      shape: packedShape,
      data: Float64Array.from({ length: size }, (_, i) => i / 2),
    };
    const v2 = { name: 'x', shape, datatype: 'FP32' };
    const spec: TensorSpec = { name: 'x', dtype: 'float32', shape: shape.map(() => -1) };
    const asArrays = () => encodeV2Tensor(spec, { ...v2, data: unpackBlock(block) }, 'in');
    const message = (() => {
      try {
        asArrays();
      } catch (error) {
        return (error as Error).message;
      }
    })();
    expect(message).toMatch(/^in: /);
    const data = packedArray(block);
    expect(() => encodeV2Tensor(spec, { ...v2, data }, 'in')).toThrow(message);
    expect(packedOf(data)).toBe(block); // never built: a write or a build would have dropped it
  });

  it('should refuse a packed value with the very same message as the arrays', () => {
    const faults: [TensorSpec, unknown[]][] = [
      [spec, [image(4, 4, 3, (i) => (i === 40 ? 1e39 : 0))]],
      [spec, [image(4, 3, 3)]],
      [spec, [image(4, 4, 3).map((row) => row.map((px) => px.map((v) => [v])))]],
      [{ ...spec, dtype: 'int32' }, [image(4, 4, 3, (i) => (i === 5 ? 0.5 : 1))]],
      [{ ...spec, dtype: 'uint8' }, [image(4, 4, 3, (i) => (i === 7 ? 256 : 1))]],
      [{ ...spec, shape: [-1, 4, 4] }, [image(4, 4, 3)]],
    ];
    for (const [input, value] of faults) {
      const plain = () => encodeInstances([input], value);
      expect(plain).toThrow();
      let message = '';
      try {
        plain();
      } catch (error) {
        message = (error as Error).message;
      }
      expect(() => encodeInstances([input], throughPacking(value))).toThrow(message);
    }
    const v2 = {
      name: 'image',
      shape: [1, 4, 4, 3],
      datatype: 'INT8',
      data: image(4, 4, 3).flat(2),
    };
    expect(() => encodeV2Tensor(spec, { ...v2, data: throughPacking(v2.data) }, 'in')).toThrow(
      'in.data[1] (flat index): 0.0625 is not a valid INT8 (expected an integer in [-128, 127])',
    );
    const short = { ...v2, datatype: 'FP32', data: v2.data.slice(1) };
    expect(() =>
      encodeV2Tensor(spec, { ...short, data: throughPacking(short.data) }, 'in'),
    ).toThrow('in: shape [1,4,4,3] holds 48 elements but data has 47');
  });
});
