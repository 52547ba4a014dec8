import { modelSummary } from './model-summary';
import { ModelState, ServedModel } from './served-model';

/** A version as the registry holds it once loaded (the threads report platform and timings). */
function loaded(
  name: string,
  version: number,
  platform: string,
  loadTimeMs: number,
  warmupTimeMs: number,
  state: ModelState = 'AVAILABLE',
): ServedModel {
  const model = new ServedModel({ name, version, dir: `/models/${name}/${version}` });
  Object.assign(model, { platform, loadTimeMs, warmupTimeMs, state });
  return model;
}

describe(modelSummary.name, () => {
  it('should say one line per model, sorted by name, with its engine and timings', () => {
    const lines = modelSummary(
      [
        loaded('linear-onnx', 1, 'onnxruntime_onnx', 2.24, 0.31),
        loaded('iris', 2, 'tensorflowjs_layers', 2.6, 1.6),
        loaded('digits', 1, 'tensorflowjs_graph', 252.4, 161.4),
      ],
      'wasm',
    );
    expect(lines).toEqual([
      'Serving digits version 1 (TF.js graph-model on wasm): loaded in 252.4 ms, warmed in 161.4 ms',
      'Serving iris version 2 (TF.js layers-model on wasm): loaded in 2.6 ms, warmed in 1.6 ms',
      'Serving linear-onnx version 1 (ONNX Runtime): loaded in 2.2 ms, warmed in 0.3 ms',
    ]);
  });

  it('should put the versions of one model on one line, in order, with their times summed', () => {
    const lines = modelSummary(
      [
        loaded('iris', 2, 'tensorflowjs_layers', 3, 2),
        loaded('iris', 1, 'tensorflowjs_layers', 4, 1),
        loaded('iris', 3, 'onnxruntime_onnx', 5, 0.5),
      ],
      'tensorflow',
    );
    expect(lines).toEqual([
      'Serving iris versions 1, 2, 3 (TF.js layers-model on tensorflow, ONNX Runtime): loaded in 12.0 ms, warmed in 3.5 ms',
    ]);
  });

  it('should leave out versions that are not serving', () => {
    const lines = modelSummary(
      [
        loaded('iris', 1, 'tensorflowjs_layers', 1, 1),
        loaded('iris', 2, 'tensorflowjs_layers', 1, 1, 'END'),
        loaded('broken', 1, 'tensorflowjs_layers', 1, 1, 'END'),
      ],
      'wasm',
    );
    expect(lines).toEqual([
      'Serving iris version 1 (TF.js layers-model on wasm): loaded in 1.0 ms, warmed in 1.0 ms',
    ]);
  });
});
