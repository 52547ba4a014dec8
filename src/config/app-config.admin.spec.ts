import { ConfigError, loadConfig } from './app-config';

describe('ADMIN_PORT', () => {
  it('should default to 0 (off) and take a port', () => {
    expect(loadConfig({}).ADMIN_PORT).toBe(0);
    expect(loadConfig({ ADMIN_PORT: '9090' }).ADMIN_PORT).toBe(9090);
  });

  it.each(['-1', '70000', 'admin', '90.5'])('should refuse %p, naming the variable', (value) => {
    expect(() => loadConfig({ ADMIN_PORT: value })).toThrow(ConfigError);
    expect(() => loadConfig({ ADMIN_PORT: value })).toThrow(/ADMIN_PORT must be/);
  });

  it('should refuse the public port, and allow 0 beside PORT=0', () => {
    expect(() => loadConfig({ PORT: '8080', ADMIN_PORT: '8080' })).toThrow(
      /ADMIN_PORT must differ from PORT \(both 8080\)/,
    );
    expect(loadConfig({ PORT: '0', ADMIN_PORT: '0' }).ADMIN_PORT).toBe(0);
  });
});
