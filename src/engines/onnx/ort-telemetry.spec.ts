import { keepOnnxRuntimeQuiet } from './ort-telemetry';

describe(keepOnnxRuntimeQuiet.name, () => {
  it('should turn ONNX Runtime telemetry off when nothing says otherwise', () => {
    const env: NodeJS.ProcessEnv = { HOME: '/home/x' };
    keepOnnxRuntimeQuiet(env);
    expect(env).toEqual({ HOME: '/home/x', ORT_DISABLE_TELEMETRY: '1' });
  });

  it('should treat an empty value as unset', () => {
    const env: NodeJS.ProcessEnv = { ORT_DISABLE_TELEMETRY: ' ' };
    keepOnnxRuntimeQuiet(env);
    expect(env.ORT_DISABLE_TELEMETRY).toBe('1');
  });

  it("should keep the operator's explicit choice", () => {
    const env: NodeJS.ProcessEnv = { ORT_DISABLE_TELEMETRY: '0' };
    keepOnnxRuntimeQuiet(env);
    expect(env.ORT_DISABLE_TELEMETRY).toBe('0');
  });
});
