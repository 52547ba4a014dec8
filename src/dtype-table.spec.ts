import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { toV2Datatype, elementSize, V2_DATATYPE, V2_DATATYPES } from './edge/v2/v2-datatypes';
import { tensorBytes } from './edge/v2/v2-binary';
import { ONNX_DTYPES } from './engines/onnx/onnx.engine';
import { TFJS_DTYPES } from './engines/tfjs/tfjs.engine';
import {
  bytesPerElement,
  DTYPES,
  DtypeRow,
  INPUT_DTYPES,
  InputDtype,
  isInputDtype,
  TENSOR_DTYPES,
  TF_DATA_TYPES,
} from './tensor/dtypes';
import { checkScalar } from './tensor/scalar';
import { allocate } from './tensor/storage';
import { packStrings } from './tensor/strings';

/**
 * The one dtype table (src/tensor/dtypes.ts) and every list derived from it: each must say what
 * the table says, so that a dtype is added (or corrected) in one row.
 */
const rows: readonly DtypeRow[] = DTYPES;
const fed = rows.filter((row) => row.fed);

describe('the dtype table', () => {
  it('should hold the facts of the V2 spec: datatype names and element sizes', () => {
    const sizes = Object.fromEntries(
      rows.filter((row) => row.v2).map((row) => [row.v2, row.array?.BYTES_PER_ELEMENT]),
    );
    expect(sizes).toEqual({
      BOOL: 1,
      UINT8: 1,
      UINT16: 2,
      UINT32: 4,
      UINT64: 8,
      INT8: 1,
      INT16: 2,
      INT32: 4,
      INT64: 8,
      FP16: 2,
      FP32: 4,
      FP64: 8,
      BYTES: undefined,
    });
    expect(new Set(rows.map((row) => row.dtype)).size).toBe(rows.length);
  });

  it('should derive the input dtypes, the tensor dtypes and their checks from its rows', () => {
    expect(INPUT_DTYPES).toEqual([
      'float32',
      'float64',
      'float16',
      'int8',
      'int32',
      'int64',
      'uint8',
      'bool',
    ]);
    expect(INPUT_DTYPES).toEqual(fed.map((row) => row.dtype));
    expect(TENSOR_DTYPES).toEqual([...INPUT_DTYPES, 'string']);
    for (const row of rows) expect(isInputDtype(row.dtype)).toBe(row.fed);
    expect(isInputDtype('constructor')).toBe(false);
  });

  it.each(fed.map((row) => [row.dtype, row] as const))(
    'should allocate and range-check %s as its row says',
    (dtype, row) => {
      const data = allocate(dtype as InputDtype, 3);
      expect(data).toBeInstanceOf(row.array!);
      expect(bytesPerElement(dtype)).toBe(row.array!.BYTES_PER_ELEMENT);
      const [min, max] = row.range!;
      const where = () => 'x';
      if (dtype === 'bool') {
        expect(checkScalar(true, 'bool', where)).toBe(1);
        expect(() => checkScalar(2, 'bool', where)).toThrow(/expected a boolean/);
        return;
      }
      // JSON numbers for int64 stop at 2^53 - 1: beyond, a double is no longer exact.
      const top = Math.min(max, Number.MAX_SAFE_INTEGER);
      const bottom = Math.max(min, -Number.MAX_SAFE_INTEGER);
      expect(checkScalar(top, dtype as InputDtype, where)).toBe(top);
      expect(checkScalar(bottom, dtype as InputDtype, where)).toBe(bottom);
      if (row.kind === 'float') {
        if (max < Number.MAX_VALUE) {
          expect(() => checkScalar(max * 1.01, dtype as InputDtype, where)).toThrow(
            `x: ${max * 1.01} is outside the ${dtype} range (±${max})`,
          );
        }
      } else {
        expect(() => checkScalar(top + 1, dtype as InputDtype, where)).toThrow(/x: /);
        expect(() => checkScalar(bottom - 1, dtype as InputDtype, where)).toThrow(/x: /);
      }
    },
  );

  it('should size the elements of TF.js weights (quantized ones included) and no string', () => {
    const weights = ['float32', 'int32', 'bool', 'uint8', 'uint16', 'float16', 'complex64'];
    expect(weights.map(bytesPerElement)).toEqual([4, 4, 1, 1, 2, 2, 8]);
    expect(bytesPerElement('string')).toBeUndefined();
  });

  it("should derive TensorFlow's DataType names and TF.js's dtypes", () => {
    for (const row of rows) expect(TF_DATA_TYPES[row.dtype]).toBe(row.tf);
    expect(TFJS_DTYPES).toEqual(
      Object.fromEntries(rows.filter((row) => row.tfjs).map((row) => [row.tf, row.dtype])),
    );
    expect(Object.values(TFJS_DTYPES)).toEqual(['float32', 'int32', 'bool', 'string', 'complex64']);
  });

  it("should derive the ONNX element types the ONNX engine accepts: those fed and strings, by ONNX Runtime's names", () => {
    expect([...ONNX_DTYPES]).toEqual([...fed.map((row) => row.onnx), 'string']);
    expect([...ONNX_DTYPES]).toEqual([...INPUT_DTYPES, 'string']);
  });

  it('should derive the V2 datatypes, in the order V2 lists them, with their sizes', () => {
    expect(V2_DATATYPES).toEqual([
      'BOOL',
      'UINT8',
      'UINT16',
      'UINT32',
      'UINT64',
      'INT8',
      'INT16',
      'INT32',
      'INT64',
      'FP16',
      'FP32',
      'FP64',
      'BYTES',
    ]);
    for (const row of rows) {
      expect(toV2Datatype(row.dtype)).toBe(row.v2 ?? row.dtype.toUpperCase());
      if (!row.v2) continue;
      expect(V2_DATATYPE.get(row.v2)).toBe(row);
      expect(elementSize(row.v2)).toBe(row.array?.BYTES_PER_ELEMENT);
    }
    // A Map: a client's datatype "constructor" finds nothing.
    expect(V2_DATATYPE.get('constructor')).toBeUndefined();
  });

  it('should write every tensor dtype as V2 binary data, named by the table; strings framed as BYTES', () => {
    for (const dtype of INPUT_DTYPES) {
      const data = allocate(dtype, 2);
      expect(tensorBytes({ name: 'y', dtype, shape: [2], data }).datatype).toBe(
        rows.find((row) => row.dtype === dtype)!.v2,
      );
    }
    const strings = packStrings('y', [2], [Buffer.from('ab'), Buffer.from([0])]);
    expect(tensorBytes(strings)).toEqual({
      datatype: 'BYTES',
      bytes: Buffer.from([2, 0, 0, 0, 0x61, 0x62, 1, 0, 0, 0, 0]),
    });
  });
});

/** The relative imports of a TypeScript file, resolved to files. */
function importsOf(file: string): string[] {
  const source = readFileSync(file, 'utf8');
  return [...source.matchAll(/(?:from|import|require\()\s*'([^']+)'/g)].map((match) => match[1]);
}

describe('the tensor layer', () => {
  it('should load nothing from Nest, directly or through its imports (the threads load it)', () => {
    const tensorDir = join(__dirname, 'tensor');
    const pending = readdirSync(tensorDir)
      .filter((name) => name.endsWith('.ts') && !name.endsWith('.spec.ts'))
      .map((name) => join(tensorDir, name));
    const seen = new Set<string>();
    const reached: string[] = [];
    while (pending.length > 0) {
      const file = pending.pop()!;
      if (seen.has(file)) continue;
      seen.add(file);
      for (const target of importsOf(file)) {
        if (!target.startsWith('.')) {
          reached.push(target);
          continue;
        }
        pending.push(`${resolve(dirname(file), target)}.ts`);
      }
    }
    expect(reached.filter((name) => name.startsWith('@nestjs'))).toEqual([]);
    // Only its own layer and the lowest one (errors) are below it.
    const outside = [...seen].filter(
      (file) => !file.startsWith(tensorDir) && !file.startsWith(join(__dirname, 'errors')),
    );
    expect(outside).toEqual([]);
  });
});
