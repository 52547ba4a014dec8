import { logLevelOf } from './http-logger';

describe(logLevelOf.name, () => {
  it('should log the expected "not now" answers (503 not ready or shed, 504 deadline) at warn', () => {
    expect(logLevelOf(503)).toBe('warn');
    expect(logLevelOf(504)).toBe('warn');
  });

  it('should log other 5xx and thrown errors at error, everything else at info', () => {
    expect(logLevelOf(500)).toBe('error');
    expect(logLevelOf(502)).toBe('error');
    expect(logLevelOf(200, new Error('socket hang up'))).toBe('error');
    expect(logLevelOf(200)).toBe('info');
    expect(logLevelOf(404)).toBe('info');
    expect(logLevelOf(405)).toBe('info');
  });
});
