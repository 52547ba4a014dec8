import { Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import cluster from 'node:cluster';
import { AddressInfo } from 'node:net';
import { NestExpressApplication } from '@nestjs/platform-express';
import { AppModule } from './app.module';
import { APP_OPTIONS, configureApp } from './app.setup';
import { runPrimary } from './cluster';
import { AppConfig, loadConfig } from './config/app-config';
import { installGracefulShutdown } from './lifecycle/graceful-shutdown';

async function bootstrap(): Promise<void> {
  // bufferLogs: boot messages wait for the JSON logger that configureApp installs.
  const app = await NestFactory.create<NestExpressApplication>(AppModule, {
    ...APP_OPTIONS,
    bufferLogs: true,
  });
  configureApp(app);
  const config = app.get(AppConfig);
  // listen() runs onModuleInit first: every model is loaded and warmed before the port opens.
  await app.listen(config.PORT, config.HOST);
  // The bound port, not the configured one: PORT=0 asks the OS for a free port (tests use it).
  const { port } = app.getHttpServer().address() as AddressInfo;
  // In a cluster the primary announces the port once every worker is up.
  const where = `http://${config.HOST}:${port}`;
  Logger.log(
    cluster.isWorker
      ? `Worker ${process.pid} ready on ${where}`
      : `Listening on ${where} (docs at /docs)`,
    'Bootstrap',
  );
  installGracefulShutdown(app);
}

function exitOnStartupFailure(error: Error): never {
  // A failure before the JSON logger is installed (bad config) must not stay in the buffer.
  Logger.flush();
  Logger.error(`Startup failed: ${error.message}`, 'Bootstrap');
  process.exit(1);
}

function main(): void {
  let config: AppConfig;
  try {
    // Validated here too, so a bad value stops a cluster before any worker starts.
    config = loadConfig(process.env);
  } catch (error) {
    exitOnStartupFailure(error as Error);
  }
  if (cluster.isPrimary && config.WORKERS > 1) return runPrimary(config);
  bootstrap().catch(exitOnStartupFailure);
}

main();
