import { INestApplication } from '@nestjs/common';
import { NestExpressApplication } from '@nestjs/platform-express';
import { Test } from '@nestjs/testing';
import { join } from 'node:path';
import { AppModule } from '../../src/app.module';
import { APP_OPTIONS, configureApp } from '../../src/app.setup';
import { AppConfig, loadConfig } from '../../src/config/app-config';

export const SHIPPED_MODELS = join(__dirname, '..', '..', 'models');

/**
 * The full application as production builds it (same module, same app options, same
 * configureApp), with configuration taken from `env` instead of process.env.
 * init() runs onModuleInit, so the real models are loaded from disk.
 */
export async function createTestApp(
  env: Record<string, string> = {},
): Promise<NestExpressApplication> {
  const moduleRef = await Test.createTestingModule({ imports: [AppModule] })
    .overrideProvider(AppConfig)
    // LOG_LEVEL warn: one JSON line per request at info would flood the test output.
    // GRPC_PORT 0 (off) unless a test asks: Triton's 8001 would collide between parallel tests.
    .useValue(loadConfig({ MODEL_DIR: SHIPPED_MODELS, LOG_LEVEL: 'warn', GRPC_PORT: '0', ...env }))
    .compile();
  const app = moduleRef.createNestApplication<NestExpressApplication>(APP_OPTIONS);
  configureApp(app);
  await app.init();
  return app;
}

export async function closeApp(app: INestApplication | undefined): Promise<void> {
  await app?.close();
}
