/**
 * @jest-environment ../test/utils/ort-environment.js
 */
import { selectBackend } from './tfjs/tfjs-backend';
import { join } from 'node:path';
import { TfjsEngine } from './tfjs/tfjs.engine';
import { OnnxEngine } from './onnx/onnx.engine';

const ROOT = join(__dirname, '..', '..');

/** Deterministic inputs covering the range a model sees (no randomness: failures reproduce). */
const ramp = (count: number, scale: number) =>
  Float32Array.from({ length: count }, (_, i) => scale * Math.abs(Math.sin(i * 0.37 + 0.1)));

async function tfjsRun(dir: string, data: Float32Array, shape: number[]): Promise<Float32Array> {
  const model = await new TfjsEngine().load(dir);
  const [output] = await model.run([
    { name: model.signature.inputs[0].name, dtype: 'float32', shape, data },
  ]);
  model.dispose();
  return output.data as Float32Array;
}

/**
 * The ONNX files `npm run train` writes carry the TF.js models' weights; the same rows must get
 * the same answers from both engines (to float32 rounding: the kernels sum in different orders).
 */
describe('TF.js and ONNX engines on the same weights', () => {
  const engine = new OnnxEngine({ intraOpThreads: 1 });
  beforeAll(() => selectBackend('cpu'));

  it.each([
    ['linear/1', 'linear-onnx/1', 'models', [5, 1], 10, 1e-5],
    ['iris/2', 'iris-onnx/1', 'models', [6, 4], 7, 1e-5],
    ['cnn-tfjs/1', 'cnn-onnx/1', 'test/fixtures/cnn', [2, 64, 64, 3], 1, 1e-4],
  ])('should answer %s and %s alike', async (tfjsDir, onnxDir, root, shape, scale, tolerance) => {
    const data = ramp(
      shape.reduce((a, b) => a * b, 1),
      scale,
    );
    const expected = await tfjsRun(join(ROOT, root, tfjsDir), data, shape);
    const model = await engine.load(join(ROOT, root, onnxDir));
    const [output] = await model.run([
      { name: model.signature.inputs[0].name, dtype: 'float32', shape, data },
    ]);
    model.dispose();
    expect(output.shape).toEqual([shape[0], expected.length / shape[0]]);
    const actual = output.data as Float32Array;
    expect(actual.length).toBe(expected.length);
    const worst = Math.max(...expected.map((v, i) => Math.abs(v - actual[i])));
    expect(worst).toBeLessThan(tolerance);
    // Not trivially equal: the answers differ from row to row.
    expect(new Set(actual).size).toBeGreaterThan(1);
  });
});
