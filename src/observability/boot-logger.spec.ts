import pino from 'pino';
import { Writable } from 'node:stream';
import { bootLogger, PinoBootLogger } from './boot-logger';

/** A PinoBootLogger writing into an array of parsed JSON lines. */
function capture() {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
      done();
    },
  });
  return { lines, logger: new PinoBootLogger(pino({ level: 'trace' }, sink)) };
}

describe(PinoBootLogger.name, () => {
  it("should write Nest's (message, context) calls as JSON lines with the context as a field", () => {
    const { lines, logger } = capture();
    logger.log('Starting Nest application...', 'NestFactory');
    logger.warn('careful');
    expect(lines).toEqual([
      expect.objectContaining({
        level: 30,
        context: 'NestFactory',
        msg: 'Starting Nest application...',
      }),
      expect.objectContaining({ level: 40, msg: 'careful' }),
    ]);
  });

  it("should keep the stack of Nest's (message, stack, context) error calls", () => {
    const { lines, logger } = capture();
    logger.error('boom', 'Error: boom\n    at x', 'ExceptionHandler');
    expect(lines[0]).toMatchObject({
      level: 50,
      context: 'ExceptionHandler',
      msg: 'boom',
      stack: 'Error: boom\n    at x',
    });
  });
});

describe(bootLogger.name, () => {
  it('should take a valid LOG_LEVEL and fall back to info for anything else', () => {
    expect(bootLogger('warn').level).toBe('warn');
    expect(bootLogger('loud').level).toBe('info');
    expect(bootLogger(undefined).level).toBe('info');
  });
});
