import { loadConfig } from './app-config';

/** Where a first `npm start` listens, and how its logs look (issue 19, a quiet first run). */
describe('loadConfig: HOST and LOG_FORMAT', () => {
  it('should listen on loopback only by default, and on any address given', () => {
    expect(loadConfig({}).HOST).toBe('127.0.0.1');
    expect(loadConfig({ HOST: '0.0.0.0' }).HOST).toBe('0.0.0.0');
  });

  it('should default LOG_FORMAT to auto and accept json and pretty', () => {
    expect(loadConfig({}).LOG_FORMAT).toBe('auto');
    expect(loadConfig({ LOG_FORMAT: 'json' }).LOG_FORMAT).toBe('json');
    expect(loadConfig({ LOG_FORMAT: 'pretty' }).LOG_FORMAT).toBe('pretty');
  });

  it('should refuse another LOG_FORMAT, naming the values it takes', () => {
    expect(() => loadConfig({ LOG_FORMAT: 'text' })).toThrow(
      /LOG_FORMAT must be one of the following values: auto, json, pretty \(got "text"\)/,
    );
  });
});
