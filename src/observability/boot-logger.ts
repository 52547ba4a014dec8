import { LoggerService } from '@nestjs/common';
import pino, { DestinationStream, Logger } from 'pino';
import { LOG_LEVELS, LogLevel } from '../config/app-config';

let stdout: DestinationStream | undefined;

/**
 * The one stream every logger of the process writes to, synchronously. pino's default is an
 * asynchronous writer per logger, and on a loaded machine lines then reached the pipe out of
 * order: two writers race, and the exit handler's synchronous flush of the last lines overtakes
 * a write still pending in libuv's pool (the boot failure line came out before the route lines
 * logged ahead of it). One write per line is what a log line costs anyway.
 */
export function logDestination(): DestinationStream {
  stdout ??= pino.destination({ dest: 1, sync: true });
  return stdout;
}

/**
 * The JSON logger of the first boot moments: before Nest's DI has built nestjs-pino (the
 * configuration check, NestFactory.create, a failure on the way), Nest's default logger would
 * print coloured text that log collectors cannot parse. This writes the same pino JSON lines the
 * app writes later, so every line a process prints is JSON from the first one.
 */
export function bootLogger(level?: string): Logger {
  const valid = LOG_LEVELS.includes(level as LogLevel) ? (level as LogLevel) : 'info';
  return pino({ level: valid, base: { pid: process.pid } }, logDestination());
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
