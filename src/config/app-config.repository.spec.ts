import { ConfigError, loadConfig, modelControlMode, modelsToLoad } from './app-config';

const KEY = 'a-key-of-16-chars-or-more';

describe('MODEL_CONTROL_MODE, LOAD_MODELS, ADMIN_API_KEY', () => {
  it("should keep today's configurations in their mode: poll with MODEL_POLL_SECONDS, else none", () => {
    expect(modelControlMode(loadConfig({}))).toBe('none');
    expect(modelControlMode(loadConfig({ MODEL_POLL_SECONDS: '30' }))).toBe('poll');
    expect(modelControlMode(loadConfig({ MODEL_CONTROL_MODE: 'explicit' }))).toBe('explicit');
    expect(
      modelControlMode(loadConfig({ MODEL_CONTROL_MODE: 'poll', MODEL_POLL_SECONDS: '5' })),
    ).toBe('poll');
  });

  it.each([
    [{ MODEL_CONTROL_MODE: 'manual' }, /MODEL_CONTROL_MODE must be one of/],
    [{ MODEL_CONTROL_MODE: 'poll' }, /MODEL_CONTROL_MODE=poll needs MODEL_POLL_SECONDS > 0/],
    [
      { MODEL_CONTROL_MODE: 'explicit', MODEL_POLL_SECONDS: '5' },
      /MODEL_CONTROL_MODE=explicit does not poll MODEL_DIR; unset MODEL_POLL_SECONDS \(5\)/,
    ],
    [
      { MODEL_CONTROL_MODE: 'none', MODEL_POLL_SECONDS: '5' },
      /MODEL_CONTROL_MODE=none does not poll MODEL_DIR/,
    ],
    [
      { LOAD_MODELS: 'iris' },
      /LOAD_MODELS applies to MODEL_CONTROL_MODE=explicit only \(here none/,
    ],
    [
      { MODEL_CONTROL_MODE: 'explicit', LOAD_MODELS: 'iris,,linear' },
      /LOAD_MODELS must be a comma-separated list of model names/,
    ],
    [{ ADMIN_API_KEY: 'short' }, /ADMIN_API_KEY must be at least 16 characters/],
    [
      { MODEL_CONTROL_MODE: 'explicit', WORKERS: '2' },
      /MODEL_CONTROL_MODE=explicit needs WORKERS=1 \(here 2\)/,
    ],
  ])('should refuse %p, saying why', (env, message) => {
    expect(() => loadConfig(env)).toThrow(ConfigError);
    expect(() => loadConfig(env)).toThrow(message);
  });

  it('should refuse explicit mode on a non-loopback HOST without ADMIN_API_KEY, saying why', () => {
    for (const HOST of ['0.0.0.0', '10.1.2.3', '::']) {
      expect(() => loadConfig({ MODEL_CONTROL_MODE: 'explicit', HOST })).toThrow(
        `Invalid configuration: MODEL_CONTROL_MODE=explicit on HOST=${HOST} would let anyone who reaches the server load and unload models: set ADMIN_API_KEY`,
      );
      expect(
        loadConfig({ MODEL_CONTROL_MODE: 'explicit', HOST, ADMIN_API_KEY: KEY }).ADMIN_API_KEY,
      ).toBe(KEY);
    }
    for (const HOST of ['127.0.0.1', 'localhost', '::1', '127.0.0.2']) {
      expect(modelControlMode(loadConfig({ MODEL_CONTROL_MODE: 'explicit', HOST }))).toBe(
        'explicit',
      );
    }
  });

  it('should read LOAD_MODELS as a list of names, "*" or unset meaning every model', () => {
    const explicit = (LOAD_MODELS?: string) =>
      loadConfig({ MODEL_CONTROL_MODE: 'explicit', ...(LOAD_MODELS ? { LOAD_MODELS } : {}) });
    expect(modelsToLoad(explicit(' iris , linear,iris'))).toEqual(['iris', 'linear']);
    expect(modelsToLoad(explicit('*'))).toBeUndefined();
    expect(modelsToLoad(explicit())).toBeUndefined();
  });
});
