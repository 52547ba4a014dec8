import { JsonLimits } from './json-limits';
import { packNumericArrays, PackedTree } from './json-parse';
import { scanPackedJson } from './json-scan';

const MIN = 16;
const limits: JsonLimits = { maxDepth: 16, maxElements: 1_000_000, maxKeys: 100 };

/** What the general path makes of a body: JSON.parse, then packNumericArrays. */
function general(text: string, min = MIN): PackedTree | undefined {
  const packed = packNumericArrays(JSON.parse(text), min);
  return 'value' in packed ? packed : undefined;
}

/**
 * The blocks by path (the order they are put back in does not matter: no block holds another),
 * their doubles as bytes: -0 and every last bit compared.
 */
const bits = (tree: {
  blocks: { path: unknown[]; block: { shape: number[]; data: Float64Array } }[];
}) =>
  tree.blocks
    .map(({ path, block }) => ({
      path,
      shape: block.shape,
      data: Buffer.from(block.data.buffer, block.data.byteOffset, block.data.byteLength).toString(
        'hex',
      ),
    }))
    .sort((a, b) => JSON.stringify(a.path).localeCompare(JSON.stringify(b.path)));

function expectSameAsGeneral(text: string, min = MIN) {
  const scanned = scanPackedJson(Buffer.from(text), limits, min);
  const expected = general(text, min);
  expect(scanned).toBeDefined();
  expect(expected).toBeDefined();
  expect(scanned!.value).toEqual(expected!.value);
  expect(bits(scanned!)).toEqual(bits(expected!));
}

let seed = 11;
const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
const image = (h: number, w: number, c: number, value: () => number) =>
  Array.from({ length: h }, () =>
    Array.from({ length: w }, () => Array.from({ length: c }, value)),
  );

describe('scanPackedJson', () => {
  it('should give the value and blocks of JSON.parse + packNumericArrays for an image request', () => {
    const body = {
      model: 'cnn',
      instances: [image(64, 64, 3, () => Math.round(random() * 1e4) / 1e4)],
    };
    expectSameAsGeneral(JSON.stringify(body));
    expectSameAsGeneral(JSON.stringify(body, null, 2));
  });

  it('should read every number bit for bit as JSON.parse does', () => {
    const doubles = Array.from({ length: 4000 }, (_, i) => {
      const x = (random() - 0.5) * 10 ** Math.floor(random() * 40 - 20);
      return i % 4 === 0 ? Math.round(x) : x;
    });
    expectSameAsGeneral(JSON.stringify({ instances: doubles }));
    const written = [
      '0',
      '-0',
      '0.0',
      '-0.0',
      '0e5',
      '-0E-5',
      '1',
      '-1',
      '10',
      '1e22',
      '1e23',
      '1E+22',
      '123456789012345678',
      '9007199254740991',
      '9007199254740993',
      '0.1',
      '0.30000000000000004',
      '1.7976931348623157e308',
      '1e309',
      '-1e400',
      '5e-324',
      '2e-324',
      '1e-400',
      '3.14159265358979323846264338327950288',
      '0.000001',
      '1e-7',
      '123.456e-22',
      '123.456e-23',
      '4.35',
      '0.1e1',
      '12345678901234567890e-30',
      '1.5e0000000000000000000001',
    ];
    const padded = [...written, ...written, ...written].slice(0, 96);
    expectSameAsGeneral(`{"instances": [${padded.join(', ')}]}`);
    expectSameAsGeneral(`{"small": [${written.slice(0, 8).join(',')}], "one": ${written[3]}}`);
  });

  it('should take out the same blocks from mixed, ragged and nested values, and rebuild small arrays', () => {
    const row = (n: number) => Array.from({ length: n }, (_, i) => i / 3);
    const bodies = [
      { instances: [image(4, 4, 1, random), image(2, 8, 1, random)] },
      {
        instances: [
          { a: row(20), b: row(3) },
          { a: row(20), b: [row(2), row(3)] },
        ],
      },
      { instances: [row(20), row(21), row(2)], labels: ['a', 'b'], flag: true, none: null },
      {
        instances: [
          [1, 2],
          [3, 4],
        ],
        nested: { deep: { x: [row(16), row(16)] } },
      },
      { instances: [1, 'two', [3], [[4]], [], [[]], {}, false, row(17)] },
      {
        instances: [
          [row(4), row(4)],
          [row(4), row(5)],
        ],
        tail: [row(4), 7],
      },
      { instances: [[row(16)], [row(16), row(17)], [[row(8), row(8)], 'x']] },
      {
        instances: [
          [[], []],
          [row(16), 'x'],
        ],
        s: 'q"uo\\te \u00e9\u4e2d\ud83d\ude00 \n\t',
      },
      {
        instances: row(15),
        more: row(16),
        empty: [],
        obj: {},
        'k\u00e9y': 1,
        '': 2,
        '10': 3,
        '2': 4,
      },
      {
        instances: [
          { b64: 'QUJD'.repeat(5000) },
          { b64: `${'\\'.repeat(99)}"\u00e9${'x'.repeat(70)}` },
        ],
      },
    ];
    for (const body of bodies) expectSameAsGeneral(JSON.stringify(body));
    expectSameAsGeneral(JSON.stringify({ instances: [row(16)] }), 17);
  });

  it('should leave to the general path what it does not read exactly as JSON.parse', () => {
    const refused = [
      '{"instances": [1, 2,]}',
      '{"instances": [1 2]}',
      '{"instances": [01]}',
      '{"instances": [1.]}',
      '{"instances": [.5]}',
      '{"instances": [+1]}',
      '{"instances": [NaN]}',
      '{"instances": [1e]}',
      '{"instances": [-]}',
      '{"instances": [1]',
      '{"instances": [1]}}',
      '{instances: [1]}',
      "{'instances': [1]}",
      '[1, 2]',
      '"text"',
      '\ufeff{"instances": [1]}',
      '{"a": tru}',
      '{"a": "x\u0001"}',
      '{"__proto__": {"x": 1}}',
      `{"a": "${'x'.repeat(100)}\u0001"}`,
      `{"a": "${'x'.repeat(100)}\\"}`,
      '{"a": 1, "a": 2}',
      '{"a": [1], "b": [1, [2]',
      '{"a": "\\x"}',
      '',
    ];
    for (const text of refused) {
      expect([text, scanPackedJson(Buffer.from(text), limits, MIN)]).toEqual([text, undefined]);
    }
  });

  it('should leave a body over a limit to the general path, counting as checkJsonLimits does', () => {
    const deep = `{"a": ${'['.repeat(16)}1${']'.repeat(16)}}`;
    expect(scanPackedJson(Buffer.from(deep), limits, MIN)).toBeUndefined();
    expect(scanPackedJson(Buffer.from(deep), { ...limits, maxDepth: 17 }, MIN)).toBeDefined();
    const keys = (n: number) =>
      JSON.stringify(Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, i])));
    expect(scanPackedJson(Buffer.from(keys(100)), limits, MIN)).toBeDefined();
    expect(scanPackedJson(Buffer.from(keys(101)), limits, MIN)).toBeUndefined();
    const numbers = JSON.stringify({ a: Array.from({ length: 99 }, () => 1) }); // 1 + 1 + 98 elements
    expect(
      scanPackedJson(Buffer.from(numbers), { ...limits, maxElements: 100 }, MIN),
    ).toBeDefined();
    expect(
      scanPackedJson(Buffer.from(numbers), { ...limits, maxElements: 99 }, MIN),
    ).toBeUndefined();
  });

  it('should leave a body with more values outside blocks than it is given to the general path', () => {
    const body = Buffer.from(
      JSON.stringify({ instances: Array.from({ length: 50 }, (_, i) => [i, i]) }),
    );
    // 1 object + 1 array + 50 rows of 3 values = 152 values.
    expect(scanPackedJson(body, limits, 1000, 152)).toBeDefined();
    expect(scanPackedJson(body, limits, 1000, 151)).toBeUndefined();
  });
});
