import { NestApplicationOptions } from '@nestjs/common';
import { NestExpressApplication } from '@nestjs/platform-express';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import { jsonBody } from './common/json-body.middleware';
import { AppConfig } from './config/app-config';

/**
 * Options for creating the app, in main.ts and in the tests alike. Nest's own body parser is off
 * because configureApp installs one with our limit and clearer errors; abortOnError: false lets
 * a boot failure reach the caller (clear message, exit 1) instead of process.abort().
 */
export const APP_OPTIONS: NestApplicationOptions = { bodyParser: false, abortOnError: false };

/**
 * Everything main.ts does to the app before listening, shared with the e2e tests so they run
 * the production HTTP behaviour (body limit, docs) and not a lookalike.
 */
export function configureApp(app: NestExpressApplication): NestExpressApplication {
  const config = app.get(AppConfig);
  // Express's 100 kB default refuses a 224x224x3 float image sent as JSON (~2 MB).
  app.use(...jsonBody(config.BODY_LIMIT));
  app.enableShutdownHooks();

  const document = SwaggerModule.createDocument(
    app,
    new DocumentBuilder()
      .setTitle('TF.js model server')
      .setDescription(
        'Serves TensorFlow.js models loaded once per process at startup. Errors are JSON with statusCode, error and message.',
      )
      .setVersion('0.1.0')
      .build(),
  );
  SwaggerModule.setup('docs', app, document, { jsonDocumentUrl: 'docs-json' });
  return app;
}
