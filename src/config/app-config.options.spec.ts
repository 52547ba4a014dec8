import { AppConfig, configFromOptions, environmentOptions, loadConfig } from './app-config';

describe('configFromOptions (ModelServingModule.forRoot)', () => {
  it('should take each variable in camelCase, typed, and default the rest as the environment does', () => {
    const config = configFromOptions({
      modelDir: '/srv/models',
      inferenceThreads: 2,
      batchTimeoutMs: 5,
      strictStartup: false,
      ortIntraOpThreads: 1,
      defaultModel: 'iris',
    });
    expect(config).toBeInstanceOf(AppConfig);
    expect(config).toEqual(
      loadConfig({
        MODEL_DIR: '/srv/models',
        INFERENCE_THREADS: '2',
        BATCH_TIMEOUT_MS: '5',
        STRICT_STARTUP: 'false',
        ORT_INTRA_OP_THREADS: '1',
        DEFAULT_MODEL: 'iris',
      }),
    );
    expect(configFromOptions()).toEqual(loadConfig({}));
  });

  it('should refuse an option that is not one, listing the options', () => {
    expect(() => configFromOptions({ modelDirectory: './models' } as never)).toThrow(
      /^Invalid options: 'modelDirectory' is not an option; options: port, host, adminPort, grpcPort, modelDir, /,
    );
  });

  it('should refuse a bad value with the checks of its variable, naming the option', () => {
    expect(() => configFromOptions({ inferenceThreads: 0, maxBatch: 1.5 })).toThrow(
      'Invalid configuration: maxBatch must be an integer number >= 1 (got 1.5); inferenceThreads must not be less than 1 (got 0)',
    );
  });

  it('should read the environment into options that give the configuration loadConfig gives', () => {
    const env = { MODEL_DIR: './m', BATCH_MAX_SIZE: '8', STRICT_STARTUP: 'false', OTHER: 'x' };
    expect(environmentOptions(env)).toEqual({
      modelDir: './m',
      batchMaxSize: '8',
      strictStartup: 'false',
    });
    expect(configFromOptions(environmentOptions(env))).toEqual(loadConfig(env));
  });
});
