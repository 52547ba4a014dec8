import { ConfigError, loadConfig } from './app-config';

describe('MODEL_POLL_SECONDS', () => {
  it('should default to 0 (hot reload off) and accept whole or fractional seconds', () => {
    expect(loadConfig({}).MODEL_POLL_SECONDS).toBe(0);
    expect(loadConfig({ MODEL_POLL_SECONDS: '30' }).MODEL_POLL_SECONDS).toBe(30);
    expect(loadConfig({ MODEL_POLL_SECONDS: '0.5' }).MODEL_POLL_SECONDS).toBe(0.5);
  });

  it.each(['-1', 'soon', '1e3', '100000'])('should refuse %p, naming the variable', (value) => {
    expect(() => loadConfig({ MODEL_POLL_SECONDS: value })).toThrow(ConfigError);
    expect(() => loadConfig({ MODEL_POLL_SECONDS: value })).toThrow(/MODEL_POLL_SECONDS must be/);
  });
});
