import { loadConfig, maxUploads } from './app-config';

describe('slow-sender settings', () => {
  it('should default to 10 s for body silence and headers, and to 4 x MAX_INFLIGHT uploads', () => {
    const config = loadConfig({});
    expect(config.BODY_READ_TIMEOUT_MS).toBe(10_000);
    expect(config.HEADERS_TIMEOUT_MS).toBe(10_000);
    expect(config.MAX_UPLOADS).toBeUndefined();
    expect(maxUploads(config)).toBe(256);
    expect(maxUploads(loadConfig({ MAX_INFLIGHT: '8' }))).toBe(32);
  });

  it('should take MAX_UPLOADS as given, 0 (no limit) included, and an empty value as unset', () => {
    expect(maxUploads(loadConfig({ MAX_UPLOADS: '70' }))).toBe(70);
    expect(maxUploads(loadConfig({ MAX_UPLOADS: '0' }))).toBe(0);
    expect(maxUploads(loadConfig({ MAX_UPLOADS: '' }))).toBe(256);
    // No MAX_INFLIGHT, no derived bound on uploads either.
    expect(maxUploads(loadConfig({ MAX_INFLIGHT: '0' }))).toBe(0);
  });

  it('should refuse negative or non-integer values, naming the variable', () => {
    expect(() => loadConfig({ MAX_UPLOADS: '-1' })).toThrow(
      /MAX_UPLOADS must not be less than 0 \(got -1\)/,
    );
    expect(() => loadConfig({ BODY_READ_TIMEOUT_MS: '1.5' })).toThrow(
      /BODY_READ_TIMEOUT_MS must be an integer/,
    );
    expect(() => loadConfig({ HEADERS_TIMEOUT_MS: 'soon' })).toThrow(
      /HEADERS_TIMEOUT_MS must be an integer/,
    );
  });
});
