import { Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import cluster from 'node:cluster';
import { AddressInfo } from 'node:net';
import { setFlagsFromString } from 'node:v8';
import { NestExpressApplication } from '@nestjs/platform-express';
import { AppModule } from './app.module';
import { APP_OPTIONS, configureApp } from './app.setup';
import { checkArgument, runCheck } from './check-models';
import { hotReloadLine, runPrimary } from './cluster';
import { AppConfig, loadConfig } from './config/app-config';
import { unknownVariableWarnings } from './config/unknown-variables';
import { lowerHelperThreads } from './core/inference/thread-priority';
import { keepOnnxRuntimeQuiet } from './engines/onnx/ort-telemetry';
import { installGracefulShutdown } from './edge/admission/graceful-shutdown';
import { docsLocation } from './observability/admin-server';
import { bootLogger, PinoBootLogger, withoutNestChatter } from './observability/boot-logger';

// JSON (or LOG_FORMAT) from the first line: until the app's own logger is built, Nest logs through this one.
const boot = bootLogger(process.env.LOG_LEVEL, process.env.LOG_FORMAT);

async function bootstrap(): Promise<void> {
  // A JSON logger from the start (not bufferLogs, whose buffer is flushed as coloured text when
  // create() itself fails); configureApp then swaps in the app's pino logger.
  const app = await NestFactory.create<NestExpressApplication>(AppModule, {
    ...APP_OPTIONS,
    logger: withoutNestChatter(new PinoBootLogger(boot)),
  });
  configureApp(app);
  const config = app.get(AppConfig);
  // listen() runs onModuleInit first: every model is loaded and warmed before the port opens.
  await app.listen(config.PORT, config.HOST);
  // Before the Listening line: whoever reads it may signal at once (tests, supervisors), and a
  // signal that came before the handler would kill the process mid-request.
  installGracefulShutdown(app);
  // Every thread the start created (V8's, libuv's) now exists: below the main thread from here.
  lowerHelperThreads();
  // The bound port, not the configured one: PORT=0 asks the OS for a free port (tests use it).
  const { port } = app.getHttpServer().address() as AddressInfo;
  // In a cluster the primary announces the port once every worker is up.
  const where = `http://${config.HOST}:${port}`;
  Logger.log(
    cluster.isWorker
      ? `Worker ${process.pid} ready on ${where}`
      : `Listening on ${where} (docs at ${docsLocation(config)})`,
    'Bootstrap',
  );
  if (!cluster.isWorker) Logger.log(hotReloadLine(config), 'Bootstrap');
}

function exitOnStartupFailure(error: Error): never {
  // The boot logger, not Nest's static Logger: a bad configuration fails before any app exists.
  boot.error({ context: 'Bootstrap' }, `Startup failed: ${error.message}`);
  process.exit(1);
}

/**
 * Lets V8's old generation grow to 4x what survived the last full GC before the next one. Under
 * JSON load each request passes ~0.4 MB of buffers through the main thread (socket reads, the
 * body, the parsed and the packed tensor), and with V8's own limit (kept near 1.2x the ~32 MB
 * live here) that ran a full GC every 0.5-1 s: 8-22 ms paused and 65-110 ms of marking on V8's
 * helper threads each, the cores the models need. With 4x: one every 2.5-5 s, shorter liveness
 * tails, and 11-34% more requests served in alternating rounds (docs/performance.md, 1b), for
 * at most ~130 MB of heap. A `--heap-growing-percent` given to node wins (0: V8's own).
 */
function tuneGarbageCollector(): void {
  if (process.execArgv.some((arg) => /^--heap[-_]growing[-_]percent/.test(arg))) return;
  setFlagsFromString('--heap-growing-percent=300');
}

function main(): void {
  tuneGarbageCollector();
  // First, on the main thread: ONNX Runtime reads it when its first session is created, inside an
  // inference thread that does not exist yet; cluster workers inherit it from this environment.
  keepOnnxRuntimeQuiet();
  // Once per server (cluster workers inherit the same environment), and before a bad value
  // stops the boot: a misspelled name can be why a value is not the one meant.
  if (!cluster.isWorker) {
    for (const warning of unknownVariableWarnings(process.env))
      boot.warn({ context: 'Config' }, warning);
  }
  // `--check [dir]`: load and warm the repository as a start would, print a table, serve nothing.
  const check = checkArgument(process.argv.slice(2));
  let config: AppConfig;
  try {
    // Validated here too, so a bad value stops a cluster before any worker starts.
    config = loadConfig(check?.dir ? { ...process.env, MODEL_DIR: check.dir } : process.env);
  } catch (error) {
    exitOnStartupFailure(error as Error);
  }
  if (check) {
    runCheck(config).then((code) => process.exit(code), exitOnStartupFailure);
    return;
  }
  if (cluster.isPrimary && config.WORKERS > 1) {
    runPrimary(config);
    return;
  }
  bootstrap().catch(exitOnStartupFailure);
}

main();
