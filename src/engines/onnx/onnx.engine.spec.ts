/**
 * @jest-environment ../test/utils/ort-environment.js
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { OnnxValueInfo, writeOnnxModel } from '../../../scripts/lib/onnx-writer';
import { Tensor } from '../../tensor/tensor';
import { EngineInputError } from '../engine';
import { OnnxEngine } from './onnx.engine';

const ROOT = join(__dirname, '..', '..', '..');
const IRIS = join(ROOT, 'models', 'iris-onnx', '1');
const SILERO = join(ROOT, 'test', 'fixtures', 'onnx', 'silero-vad', '1');

const f32 = (name: string, shape: number[], values: number[]): Tensor => ({
  name,
  dtype: 'float32',
  shape,
  data: Float32Array.from(values),
});

/** 512 samples (32 ms at 16 kHz) of a 440 Hz tone with a little deterministic noise. */
function audioChunk(offset: number): Float32Array {
  return Float32Array.from(
    { length: 512 },
    (_, i) => 0.5 * Math.sin((2 * Math.PI * 440 * (offset + i)) / 16000) + 0.01 * Math.sin(i * 7.3),
  );
}

describe(OnnxEngine.name, () => {
  const engine = new OnnxEngine({ intraOpThreads: 1 });
  let scratch: string;
  beforeAll(() => (scratch = mkdtempSync(join(tmpdir(), 'onnx-engine-'))));
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  it('should read the signature from the session, symbolic dimensions as -1', async () => {
    const model = await engine.load(IRIS);
    expect(model.platform).toBe('onnxruntime_onnx');
    expect(model.signature).toEqual({
      inputs: [{ name: 'features', dtype: 'float32', shape: [-1, 4] }],
      outputs: [{ name: 'probabilities', dtype: 'float32', shape: [-1, 3] }],
    });
    model.dispose();
  });

  it('should read int64 scalar inputs and state whose batch is not the first dimension', async () => {
    const model = await engine.load(SILERO);
    expect(model.signature.inputs).toEqual([
      { name: 'input', dtype: 'float32', shape: [-1, -1] },
      { name: 'sr', dtype: 'int64', shape: [] },
      { name: 'h', dtype: 'float32', shape: [2, -1, 64] },
      { name: 'c', dtype: 'float32', shape: [2, -1, 64] },
    ]);
    expect(model.signature.outputs.map((o) => [o.name, o.shape])).toEqual([
      ['output', [-1, 1]],
      ['hn', [2, -1, 64]],
      ['cn', [2, -1, 64]],
    ]);
    model.dispose();
  });

  it('should answer exactly as ONNX Runtime run directly, chunk after chunk with its state', async () => {
    const model = await engine.load(SILERO);
    const direct = await ort.InferenceSession.create(join(SILERO, 'model.onnx'));
    let state: Record<'h' | 'c', Float32Array> = {
      h: new Float32Array(128),
      c: new Float32Array(128),
    };
    let directState: Record<'h' | 'c', Float32Array> = {
      h: new Float32Array(128),
      c: new Float32Array(128),
    };
    const probabilities: number[] = [];
    for (let chunk = 0; chunk < 4; chunk++) {
      const audio = audioChunk(chunk * 512);
      const outputs = await model.run([
        f32('input', [1, 512], [...audio]),
        { name: 'sr', dtype: 'int64', shape: [], data: BigInt64Array.of(16000n) },
        { name: 'h', dtype: 'float32', shape: [2, 1, 64], data: state.h },
        { name: 'c', dtype: 'float32', shape: [2, 1, 64], data: state.c },
      ]);
      const expected = await direct.run({
        input: new ort.Tensor('float32', audio, [1, 512]),
        sr: new ort.Tensor('int64', BigInt64Array.of(16000n), []),
        h: new ort.Tensor('float32', directState.h, [2, 1, 64]),
        c: new ort.Tensor('float32', directState.c, [2, 1, 64]),
      });
      expect(outputs.map((t) => [t.name, t.dtype, t.shape])).toEqual([
        ['output', 'float32', [1, 1]],
        ['hn', 'float32', [2, 1, 64]],
        ['cn', 'float32', [2, 1, 64]],
      ]);
      expect(outputs[0].data).toEqual(expected.output.data);
      expect(outputs[1].data).toEqual(expected.hn.data);
      expect(outputs[2].data).toEqual(expected.cn.data);
      probabilities.push((outputs[0].data as Float32Array)[0]);
      state = { h: outputs[1].data as Float32Array, c: outputs[2].data as Float32Array };
      directState = { h: expected.hn.data as Float32Array, c: expected.cn.data as Float32Array };
    }
    // The state matters: the same chunk does not score the same once the model has heard more.
    expect(new Set(probabilities).size).toBeGreaterThan(1);
    await direct.release();
    model.dispose();
  });

  it('should carry every supported element type in and out in its typed array', async () => {
    const types: OnnxValueInfo['type'][] = [
      'float32',
      'float64',
      'float16',
      'int8',
      'int32',
      'int64',
      'uint8',
      'bool',
    ];
    const dir = join(scratch, 'dtypes');
    writeOnnxModel(join(dir, 'model.onnx'), {
      name: 'dtypes',
      doc: 'one Identity per element type',
      inputs: types.map((type) => ({ name: type, type, shape: ['n', 2] })),
      outputs: types.map((type) => ({ name: `${type}_out`, type, shape: ['n', 2] })),
      initializers: [],
      nodes: types.map((type) => ({ op: 'Identity', inputs: [type], outputs: [`${type}_out`] })),
    });
    const model = await engine.load(dir);
    expect(model.signature.inputs.map((s) => s.dtype)).toEqual(types);
    const data = {
      float32: Float32Array.of(1.5, -2),
      float64: Float64Array.of(0.1, 1e300),
      float16: Uint16Array.of(0x3c00, 0xc000),
      int8: Int8Array.of(-128, 127),
      int32: Int32Array.of(-7, 2147483647),
      int64: BigInt64Array.of(-(2n ** 62n), 2n ** 62n),
      uint8: Uint8Array.of(0, 255),
      bool: Uint8Array.of(1, 0),
    };
    const inputs: Tensor[] = types.map((type) => ({
      name: type,
      dtype: type as Tensor['dtype'],
      shape: [1, 2],
      data: data[type as keyof typeof data],
    }));
    const outputs = await model.run(inputs);
    outputs.forEach((output, i) => {
      expect(output.name).toBe(`${types[i]}_out`);
      expect(output.dtype).toBe(types[i]);
      expect(output.shape).toEqual([1, 2]);
      expect(output.data).toEqual(inputs[i].data);
      expect(output.data.constructor).toBe(inputs[i].data.constructor);
    });
    model.dispose();
  });

  it('should refuse an element type the server cannot carry, naming it', async () => {
    const dir = join(scratch, 'uint16');
    writeOnnxModel(join(dir, 'model.onnx'), {
      name: 'uint16',
      doc: '',
      inputs: [{ name: 'x', type: 'uint16', shape: [1] }],
      outputs: [{ name: 'y', type: 'uint16', shape: [1] }],
      initializers: [],
      nodes: [{ op: 'Identity', inputs: ['x'], outputs: ['y'] }],
    });
    await expect(engine.load(dir)).rejects.toThrow(
      `input 'x' has element type uint16; supported: float32, float64, float16, int8, int32, int64, uint8, bool, string`,
    );
  });

  it("should fail a corrupt model.onnx with ONNX Runtime's own message, leaving the path to the caller", async () => {
    const dir = join(scratch, 'corrupt');
    writeOnnxModel(join(dir, 'model.onnx'), {
      name: 'x',
      doc: '',
      inputs: [],
      outputs: [],
      initializers: [],
      nodes: [],
    });
    writeFileSync(join(dir, 'model.onnx'), 'this is not a protobuf');
    const error = (await engine.load(dir).catch((e: unknown) => e)) as Error;
    expect(error.message).toMatch(/^ONNX Runtime cannot load it: Protobuf parsing failed/);
    // The inference thread prefixes the path: said here too, it would be said twice.
    expect(error.message).not.toContain(dir);
  });

  it('should fail a model with an operator the CPU build lacks, naming the operator', async () => {
    const dir = join(scratch, 'unknown-op');
    writeOnnxModel(join(dir, 'model.onnx'), {
      name: 'unknown-op',
      doc: '',
      inputs: [{ name: 'x', type: 'float32', shape: [1] }],
      outputs: [{ name: 'y', type: 'float32', shape: [1] }],
      initializers: [],
      nodes: [{ op: 'NoSuchOperator', inputs: ['x'], outputs: ['y'] }],
    });
    const error = (await engine.load(dir).catch((e: unknown) => e)) as Error;
    expect(error.message).toMatch(/^ONNX Runtime cannot load it: .*NoSuchOperator/);
    expect(error.message).not.toContain(dir);
  });

  it('should count live sessions and release them on dispose', async () => {
    const before = engine.stats();
    const model = await engine.load(IRIS);
    const loaded = engine.stats();
    expect(loaded.tensors).toBe(before.tensors + 1);
    expect(loaded.bytes).toBeGreaterThan(before.bytes);
    model.dispose();
    model.dispose(); // twice is harmless
    expect(engine.stats()).toEqual(before);
    await expect(model.run([f32('features', [1, 4], [5.1, 3.5, 1.4, 0.2])])).rejects.toThrow(
      /disposed/,
    );
  });

  it("should tell inputs ONNX Runtime refuses (EngineInputError, with its reason) from a fault of the engine's own", async () => {
    const model = await engine.load(IRIS);
    const refused = await model.run([f32('features', [1, 5], [1, 2, 3, 4, 5])]).catch((e) => e);
    expect(refused).toBeInstanceOf(EngineInputError);
    expect(refused.message).toMatch(/invalid dimensions for input: features/);
    model.dispose();
    const disposed = await model.run([f32('features', [1, 4], [1, 2, 3, 4])]).catch((e) => e);
    expect(disposed).not.toBeInstanceOf(EngineInputError);
  });
});
