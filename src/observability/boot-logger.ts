import { LoggerService } from '@nestjs/common';
import pino, { DestinationStream, Logger } from 'pino';
import { prettyFactory } from 'pino-pretty';
import { LOG_LEVELS, LogLevel } from '../config/app-config';

/** What the lines look like: JSON for collectors, text for a person at a terminal. */
export type LogOutput = 'json' | 'pretty';

/**
 * LOG_FORMAT as given (unchecked: the boot logger needs it before the configuration is
 * validated, and reports a bad value through it): auto, or anything unknown, is pretty only when
 * stdout is a terminal, so pipes, files and container log collectors always get JSON.
 */
export function logOutputFor(
  format: string | undefined,
  stdoutIsTTY = process.stdout.isTTY === true,
): LogOutput {
  if (format === 'json' || format === 'pretty') return format;
  return stdoutIsTTY ? 'pretty' : 'json';
}

let stdout: DestinationStream | undefined;
const destinations = new Map<LogOutput, DestinationStream>();

/**
 * pino's JSON line turned into text in the same synchronous write, not by a transport: a
 * transport is a thread, and lines logged just before process.exit() would be lost with it.
 */
function prettyOver(target: DestinationStream): DestinationStream {
  const prettify = prettyFactory({
    translateTime: 'SYS:HH:MM:ss.l',
    ignore: 'pid,hostname,context',
    messageFormat: '{if context}[{context}] {end}{msg}',
    // A request's fields on its own line, not one indented line per field.
    singleLine: true,
  });
  return { write: (line: string) => target.write(prettify(line)) };
}

/**
 * The one stream every logger of the process writes to, synchronously. pino's default is an
 * asynchronous writer per logger, and on a loaded machine lines then reached the pipe out of
 * order: two writers race, and the exit handler's synchronous flush of the last lines overtakes
 * a write still pending in libuv's pool (the boot failure line came out before the route lines
 * logged ahead of it). One write per line is what a log line costs anyway.
 */
export function logDestination(output: LogOutput = 'json'): DestinationStream {
  stdout ??= pino.destination({ dest: 1, sync: true });
  let destination = destinations.get(output);
  if (!destination) {
    destination = output === 'pretty' ? prettyOver(stdout) : stdout;
    destinations.set(output, destination);
  }
  return destination;
}

/**
 * The logger of the first boot moments: before Nest's DI has built nestjs-pino (the
 * configuration check, NestFactory.create, a failure on the way), Nest's default logger would
 * print coloured text that log collectors cannot parse. This writes the same pino lines the app
 * writes later, so every line a process prints is in one format (JSON unless LOG_FORMAT or a
 * terminal says otherwise) from the first one.
 */
export function bootLogger(level?: string, format?: string): Logger {
  const valid = LOG_LEVELS.includes(level as LogLevel) ? (level as LogLevel) : 'info';
  return pino({ level: valid, base: { pid: process.pid } }, logDestination(logOutputFor(format)));
}

/** Nest's boot chatter, one line per module, controller and route: most of a boot's lines. */
const NEST_CHATTER = new Set(['InstanceLoader', 'RoutesResolver', 'RouterExplorer']);

/** Whether a Nest `log` call is boot chatter, which goes to debug so the boot fits on a screen. */
function isNestChatter(message: unknown, context: unknown): boolean {
  if (typeof context !== 'string') return false;
  // Said again, with the address, by the Listening line that follows it.
  if (context === 'NestApplication') return message === 'Nest application successfully started';
  return NEST_CHATTER.has(context);
}

/**
 * Nest's logger contract over another logger, with Nest's boot chatter (module initialised,
 * controller and route mapped, application started) logged at debug instead of info.
 */
export function withoutNestChatter(logger: LoggerService): LoggerService {
  return {
    log: (message: unknown, ...params: unknown[]) =>
      isNestChatter(message, params.at(-1)) && logger.debug
        ? logger.debug(message, ...params)
        : logger.log(message, ...params),
    error: (message: unknown, ...params: unknown[]) => logger.error(message, ...params),
    warn: (message: unknown, ...params: unknown[]) => logger.warn(message, ...params),
    debug: (message: unknown, ...params: unknown[]) => logger.debug?.(message, ...params),
    verbose: (message: unknown, ...params: unknown[]) => logger.verbose?.(message, ...params),
    fatal: (message: unknown, ...params: unknown[]) => logger.fatal?.(message, ...params),
  };
}

/** Nest's logger contract over a pino logger: the context becomes a field, as nestjs-pino does. */
export class PinoBootLogger implements LoggerService {
  constructor(private readonly logger: Logger) {}

  log(message: unknown, ...params: unknown[]): void {
    this.write('info', message, params);
  }
  error(message: unknown, ...params: unknown[]): void {
    // Nest passes (message, stack?, context?).
    const stack = params.length > 1 ? params[0] : undefined;
    this.write('error', message, params, typeof stack === 'string' ? { stack } : {});
  }
  warn(message: unknown, ...params: unknown[]): void {
    this.write('warn', message, params);
  }
  debug(message: unknown, ...params: unknown[]): void {
    this.write('debug', message, params);
  }
  verbose(message: unknown, ...params: unknown[]): void {
    this.write('trace', message, params);
  }
  fatal(message: unknown, ...params: unknown[]): void {
    this.write('fatal', message, params);
  }

  private write(
    level: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace',
    message: unknown,
    params: unknown[],
    extra: object = {},
  ): void {
    const context = params.length > 0 ? params.at(-1) : undefined;
    const fields = { ...(typeof context === 'string' ? { context } : {}), ...extra };
    if (message instanceof Error) this.logger[level]({ ...fields, err: message }, message.message);
    else if (typeof message === 'object' && message !== null)
      this.logger[level]({ ...fields, ...message });
    else this.logger[level](fields, String(message));
  }
}
