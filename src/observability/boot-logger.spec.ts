import pino from 'pino';
import { Writable } from 'node:stream';
import { LoggerService } from '@nestjs/common';
import { bootLogger, logOutputFor, PinoBootLogger, withoutNestChatter } from './boot-logger';

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

describe(logOutputFor.name, () => {
  it('should write text on a terminal and JSON to anything else when LOG_FORMAT is auto or unset', () => {
    expect(logOutputFor('auto', true)).toBe('pretty');
    expect(logOutputFor('auto', false)).toBe('json');
    expect(logOutputFor(undefined, true)).toBe('pretty');
    expect(logOutputFor(undefined, false)).toBe('json');
  });

  it('should follow LOG_FORMAT=json or pretty whatever stdout is', () => {
    expect(logOutputFor('json', true)).toBe('json');
    expect(logOutputFor('pretty', false)).toBe('pretty');
  });

  it('should treat a value the configuration will refuse as auto, so the refusal gets logged', () => {
    expect(logOutputFor('yaml', false)).toBe('json');
    expect(logOutputFor('yaml', true)).toBe('pretty');
  });
});

describe(withoutNestChatter.name, () => {
  /** Which method of the wrapped logger each call reached, with its arguments. */
  function recorder() {
    const calls: [string, ...unknown[]][] = [];
    const record =
      (method: string) =>
      (...args: unknown[]) =>
        calls.push([method, ...args]);
    const logger: LoggerService = {
      log: record('log'),
      error: record('error'),
      warn: record('warn'),
      debug: record('debug'),
      verbose: record('verbose'),
      fatal: record('fatal'),
    };
    return { calls, logger: withoutNestChatter(logger) };
  }

  it("should send Nest's module, controller and route lines to debug", () => {
    const { calls, logger } = recorder();
    logger.log('ModelModule dependencies initialized', 'InstanceLoader');
    logger.log('PredictController {/predict}:', 'RoutesResolver');
    logger.log('Mapped {/predict, POST} route', 'RouterExplorer');
    logger.log('Nest application successfully started', 'NestApplication');
    expect(calls).toEqual([
      ['debug', 'ModelModule dependencies initialized', 'InstanceLoader'],
      ['debug', 'PredictController {/predict}:', 'RoutesResolver'],
      ['debug', 'Mapped {/predict, POST} route', 'RouterExplorer'],
      ['debug', 'Nest application successfully started', 'NestApplication'],
    ]);
  });

  it('should pass every other call through to the same method unchanged', () => {
    const { calls, logger } = recorder();
    logger.log('Starting Nest application...', 'NestFactory');
    logger.log('Listening on http://127.0.0.1:3000', 'Bootstrap');
    logger.log('something else', 'NestApplication');
    logger.warn('careful', 'ModelService');
    logger.error('boom', 'stack', 'ExceptionHandler');
    logger.debug!('detail', 'RouterExplorer');
    logger.fatal!('dead');
    expect(calls).toEqual([
      ['log', 'Starting Nest application...', 'NestFactory'],
      ['log', 'Listening on http://127.0.0.1:3000', 'Bootstrap'],
      ['log', 'something else', 'NestApplication'],
      ['warn', 'careful', 'ModelService'],
      ['error', 'boom', 'stack', 'ExceptionHandler'],
      ['debug', 'detail', 'RouterExplorer'],
      ['fatal', 'dead'],
    ]);
  });
});
