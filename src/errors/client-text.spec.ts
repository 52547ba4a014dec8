import { clip, clipMessage, ECHO_MAX_CHARS, ERROR_MAX_CHARS } from './client-text';

describe(clip.name, () => {
  it('should keep a short string as it is', () => {
    expect(clip('iris')).toBe('iris');
    expect(clip('x'.repeat(ECHO_MAX_CHARS))).toBe('x'.repeat(ECHO_MAX_CHARS));
  });

  it('should cut a long string to its start and say how long it was', () => {
    expect(clip('x'.repeat(5_000_000))).toBe(`${'x'.repeat(ECHO_MAX_CHARS)}… (5000000 characters)`);
  });
});

describe(clipMessage.name, () => {
  it('should cut only messages over ERROR_MAX_CHARS', () => {
    expect(clipMessage('short')).toBe('short');
    const long = clipMessage('y'.repeat(ERROR_MAX_CHARS * 3));
    expect(long.length).toBeLessThan(ERROR_MAX_CHARS + 100);
    expect(long).toMatch(/… \(message cut at 4000 of 12000 characters\)$/);
  });
});
