import { AppConfig, ConfigError, loadConfig } from './app-config';

describe(loadConfig.name, () => {
  it('should apply the documented defaults to an empty environment', () => {
    const config = loadConfig({});
    expect(config).toBeInstanceOf(AppConfig);
    expect(config).toMatchObject({
      PORT: 3000,
      MODEL_DIR: './models',
      TFJS_BACKEND: 'auto',
      MAX_BATCH: 1024,
      BODY_LIMIT: '10mb',
      MODEL_VERSION_POLICY: 'latest',
    });
    expect(config.DEFAULT_MODEL).toBeUndefined();
  });

  it('should convert numeric variables and keep the rest as given', () => {
    const config = loadConfig({
      PORT: '8080',
      MAX_BATCH: '16',
      TFJS_BACKEND: 'wasm',
      DEFAULT_MODEL: 'iris',
    });
    expect(config).toMatchObject({
      PORT: 8080,
      MAX_BATCH: 16,
      TFJS_BACKEND: 'wasm',
      DEFAULT_MODEL: 'iris',
    });
  });

  it('should ignore variables it does not know', () => {
    expect(() => loadConfig({ HOME: '/root', PATH: '/bin' })).not.toThrow();
  });

  it('should list every bad variable with its value in one error', () => {
    const attempt = () => loadConfig({ PORT: '70000', TFJS_BACKEND: 'gpu', BODY_LIMIT: 'huge' });
    expect(attempt).toThrow(ConfigError);
    expect(attempt).toThrow(/PORT must not be greater than 65535 \(got 70000\)/);
    expect(attempt).toThrow(
      /TFJS_BACKEND must be one of the following values: auto, tensorflow, wasm, cpu \(got "gpu"\)/,
    );
    expect(attempt).toThrow(/BODY_LIMIT must be a byte count/);
  });

  it('should reject a non-integer where an integer is required', () => {
    expect(() => loadConfig({ MAX_BATCH: '1.5' })).toThrow(/MAX_BATCH must be an integer number/);
  });

  it('should default IMAGE_MAX_PIXELS to a 24-megapixel photo and refuse a non-positive or non-integer one', () => {
    expect(loadConfig({}).IMAGE_MAX_PIXELS).toBe(25_000_000);
    expect(loadConfig({ IMAGE_MAX_PIXELS: '1000000' }).IMAGE_MAX_PIXELS).toBe(1_000_000);
    expect(() => loadConfig({ IMAGE_MAX_PIXELS: '0' })).toThrow(
      /IMAGE_MAX_PIXELS must not be less than 1 \(got 0\)/,
    );
    expect(() => loadConfig({ IMAGE_MAX_PIXELS: '1e9' })).toThrow(
      /IMAGE_MAX_PIXELS must be an integer/,
    );
  });

  it('should default JSON_MAX_VALUES to 50,000 and refuse a non-positive one', () => {
    expect(loadConfig({}).JSON_MAX_VALUES).toBe(50_000);
    expect(loadConfig({ JSON_MAX_VALUES: '200000' }).JSON_MAX_VALUES).toBe(200_000);
    expect(() => loadConfig({ JSON_MAX_VALUES: '0' })).toThrow(
      /JSON_MAX_VALUES must not be less than 1/,
    );
  });

  it('should default JSON_MAX_KEYS to 1000 and refuse a non-positive one', () => {
    expect(loadConfig({}).JSON_MAX_KEYS).toBe(1000);
    expect(loadConfig({ JSON_MAX_KEYS: '50' }).JSON_MAX_KEYS).toBe(50);
    expect(() => loadConfig({ JSON_MAX_KEYS: '0' })).toThrow(
      /JSON_MAX_KEYS must not be less than 1 \(got 0\)/,
    );
  });

  it('should leave IMAGE_MAX_TOTAL_PIXELS unset by default (derived from IMAGE_MAX_PIXELS) and refuse a non-positive one', () => {
    expect(loadConfig({}).IMAGE_MAX_TOTAL_PIXELS).toBeUndefined();
    expect(loadConfig({ IMAGE_MAX_TOTAL_PIXELS: '' }).IMAGE_MAX_TOTAL_PIXELS).toBeUndefined();
    expect(loadConfig({ IMAGE_MAX_TOTAL_PIXELS: '40000' }).IMAGE_MAX_TOTAL_PIXELS).toBe(40_000);
    expect(() => loadConfig({ IMAGE_MAX_TOTAL_PIXELS: '0' })).toThrow(
      /IMAGE_MAX_TOTAL_PIXELS must not be less than 1 \(got 0\)/,
    );
    expect(() => loadConfig({ IMAGE_MAX_TOTAL_PIXELS: 'lots' })).toThrow(
      /IMAGE_MAX_TOTAL_PIXELS must be an integer/,
    );
  });

  it('should default JSON_PARSE_THREADS to one parse thread, allow 0 (parse on the main thread) and refuse negatives', () => {
    expect(loadConfig({}).JSON_PARSE_THREADS).toBe(1);
    expect(loadConfig({ JSON_PARSE_THREADS: '0' }).JSON_PARSE_THREADS).toBe(0);
    expect(() => loadConfig({ JSON_PARSE_THREADS: '-1' })).toThrow(
      /JSON_PARSE_THREADS must not be less than 0 \(got -1\)/,
    );
    expect(() => loadConfig({ JSON_PARSE_THREADS: '1.5' })).toThrow(
      /JSON_PARSE_THREADS must be an integer/,
    );
  });
});
