import { loadConfig } from './app-config';
import { usableCores } from './cpu-quota';

describe('STRICT_STARTUP and the INFERENCE_THREADS default', () => {
  it('should stop at boot on any model that cannot load unless told otherwise', () => {
    expect(loadConfig({}).STRICT_STARTUP).toBe(true);
  });

  it('should read true and false in any case', () => {
    expect(loadConfig({ STRICT_STARTUP: 'false' }).STRICT_STARTUP).toBe(false);
    expect(loadConfig({ STRICT_STARTUP: ' FALSE ' }).STRICT_STARTUP).toBe(false);
    expect(loadConfig({ STRICT_STARTUP: 'True' }).STRICT_STARTUP).toBe(true);
  });

  it('should refuse anything else, naming the variable and the value', () => {
    // "0" or "no" could mean either to someone; a typo must not silently keep the default.
    for (const value of ['0', 'no', 'off', '']) {
      expect(() => loadConfig({ STRICT_STARTUP: value })).toThrow(
        `STRICT_STARTUP must be true or false (got ${JSON.stringify(value)})`,
      );
    }
  });

  it('should default INFERENCE_THREADS to the usable cores, cgroup quota included', () => {
    expect(loadConfig({}).INFERENCE_THREADS).toBe(usableCores().cores);
    expect(loadConfig({ INFERENCE_THREADS: '3' }).INFERENCE_THREADS).toBe(3);
  });
});
