import { Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { AddressInfo } from 'node:net';
import { NestExpressApplication } from '@nestjs/platform-express';
import { AppModule } from './app.module';
import { APP_OPTIONS, configureApp } from './app.setup';
import { AppConfig } from './config/app-config';
import { installGracefulShutdown } from './lifecycle/graceful-shutdown';

async function bootstrap(): Promise<void> {
  // bufferLogs: boot messages wait for the JSON logger that configureApp installs.
  const app = await NestFactory.create<NestExpressApplication>(AppModule, { ...APP_OPTIONS, bufferLogs: true });
  configureApp(app);
  const config = app.get(AppConfig);
  // listen() runs onModuleInit first: every model is loaded and warmed before the port opens.
  await app.listen(config.PORT, config.HOST);
  // The bound port, not the configured one: PORT=0 asks the OS for a free port (tests use it).
  const { port } = app.getHttpServer().address() as AddressInfo;
  Logger.log(`Listening on http://${config.HOST}:${port} (docs at /docs)`, 'Bootstrap');
  installGracefulShutdown(app);
}

bootstrap().catch((error: Error) => {
  // A failure before the JSON logger is installed (bad config) must not stay in the buffer.
  Logger.flush();
  Logger.error(`Startup failed: ${error.message}`, 'Bootstrap');
  process.exit(1);
});
