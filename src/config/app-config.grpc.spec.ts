import { ConfigError, loadConfig } from './app-config';

describe('GRPC_PORT', () => {
  it("should default to 8001 (Triton's) and take a port, 0 turning the listener off", () => {
    expect(loadConfig({}).GRPC_PORT).toBe(8001);
    expect(loadConfig({ GRPC_PORT: '9001' }).GRPC_PORT).toBe(9001);
    expect(loadConfig({ GRPC_PORT: '0' }).GRPC_PORT).toBe(0);
  });

  it.each(['-1', '70000', 'grpc', '80.5'])('should refuse %p, naming the variable', (value) => {
    expect(() => loadConfig({ GRPC_PORT: value })).toThrow(ConfigError);
    expect(() => loadConfig({ GRPC_PORT: value })).toThrow(/GRPC_PORT must be/);
  });

  it('should refuse the HTTP and admin ports, and allow 0 beside PORT=0', () => {
    expect(() => loadConfig({ PORT: '8080', GRPC_PORT: '8080' })).toThrow(
      /GRPC_PORT must differ from PORT \(both 8080\)/,
    );
    expect(() => loadConfig({ ADMIN_PORT: '9090', GRPC_PORT: '9090' })).toThrow(
      /GRPC_PORT must differ from ADMIN_PORT \(both 9090\)/,
    );
    expect(loadConfig({ PORT: '0', GRPC_PORT: '0' }).GRPC_PORT).toBe(0);
  });
});
