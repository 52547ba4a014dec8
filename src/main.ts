import { Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { AddressInfo } from 'node:net';
import { NestExpressApplication } from '@nestjs/platform-express';
import { AppModule } from './app.module';
import { APP_OPTIONS, configureApp } from './app.setup';
import { AppConfig } from './config/app-config';

async function bootstrap(): Promise<void> {
  const app = await NestFactory.create<NestExpressApplication>(AppModule, APP_OPTIONS);
  configureApp(app);
  const config = app.get(AppConfig);
  // listen() runs onModuleInit first: every model is loaded and warmed before the port opens.
  await app.listen(config.PORT, config.HOST);
  // The bound port, not the configured one: PORT=0 asks the OS for a free port (tests use it).
  const { port } = app.getHttpServer().address() as AddressInfo;
  Logger.log(`Listening on http://${config.HOST}:${port} (docs at /docs)`, 'Bootstrap');
}

bootstrap().catch((error: Error) => {
  Logger.error(`Startup failed: ${error.message}`, 'Bootstrap');
  process.exit(1);
});
