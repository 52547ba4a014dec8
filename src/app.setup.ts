import { NestApplicationOptions } from '@nestjs/common';
import { NestExpressApplication } from '@nestjs/platform-express';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import type { NextFunction, Request, Response } from 'express';
import helmet from 'helmet';
import { Logger } from 'nestjs-pino';
import { servingBody } from './edge/body/serving-body';
import { claimRequest } from './edge/errors/serving-request';
import { JsonParsePool } from './edge/body/json-parse-pool';
import { TENSOR_SCHEMAS } from './edge/openapi/tensor-schemas';
import { AppConfig, maxUploads } from './config/app-config';
import { AdmissionGuard } from './edge/admission/admission.guard';
import { LifecycleService } from './core/lifecycle/lifecycle.service';
import { requestGuard } from './edge/admission/request-guard.middleware';
import { applyServerTimeouts } from './edge/admission/server-timeouts';
import { adminGate } from './observability/admin-server';
import { withoutNestChatter } from './observability/boot-logger';
import { httpLogger } from './observability/http-logger';
import { httpMetrics } from './observability/http-metrics.middleware';
import { MetricsService } from './observability/metrics.service';

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
  app.useLogger(withoutNestChatter(app.get(Logger)));
  applyServerTimeouts(app.getHttpServer(), {
    headersTimeoutMs: config.HEADERS_TIMEOUT_MS,
    requestTimeoutMs: config.REQUEST_TIMEOUT_MS,
  });
  // This whole app is the model server: every request, even one no route takes, gets its error bodies.
  app.use((req: Request, _res: Response, next: NextFunction) => {
    claimRequest(req);
    next();
  });
  // Metrics and the request log come first so that requests refused early are counted and logged;
  // the guard bounds uploads and starts the timeouts before any body byte is read; admission to
  // inference (MAX_INFLIGHT) waits until the body is parsed (AdmissionGuard).
  app.use(httpMetrics(app.get(MetricsService)));
  app.use(httpLogger(config));
  // Before the guard, so shed 503s carry the same security headers as every other answer.
  // upgrade-insecure-requests off: on plain HTTP it makes browsers fetch /docs assets over HTTPS.
  app.use(helmet({ contentSecurityPolicy: { directives: { upgradeInsecureRequests: null } } }));
  app.disable('x-powered-by');
  // With ADMIN_PORT each port answers only its own paths; before the guard, so a refused path
  // never counts as in flight.
  if (config.ADMIN_PORT > 0) app.use(adminGate());
  const lifecycle = app.get(LifecycleService);
  app.use(
    requestGuard(lifecycle, {
      maxUploads: maxUploads(config),
      bodyReadTimeoutMs: config.BODY_READ_TIMEOUT_MS,
      timeoutMs: config.REQUEST_TIMEOUT_MS,
    }),
  );
  app.useGlobalGuards(new AdmissionGuard(lifecycle, config.MAX_INFLIGHT));
  if (config.CORS_ORIGINS.trim() !== '') {
    const origins = config.CORS_ORIGINS.split(',').map((origin) => origin.trim());
    app.enableCors({
      origin: origins.includes('*') ? '*' : origins,
      exposedHeaders: ['X-Request-Id', 'Retry-After', 'Inference-Header-Content-Length'],
    });
  }
  // Express's 100 kB default refuses a 224x224x3 float image sent as JSON (~2 MB). Installed here
  // for every path, as it always was: the module installs it again for its own routes only,
  // which the requests read here skip.
  app.use(servingBody(config, app.get(JsonParsePool), () => true));
  // Responses are computed per request and never revalidated: hashing each for an ETag is waste.
  app.set('etag', false);
  // Signals are handled by installGracefulShutdown (main.ts), not enableShutdownHooks: see there.

  const document = SwaggerModule.createDocument(
    app,
    new DocumentBuilder()
      .setTitle('TF.js and ONNX model server')
      .setDescription(
        'Serves TensorFlow.js and ONNX models, loaded once per inference thread at startup. Native endpoints answer errors as {statusCode, error, message}; the TF Serving (/v1) and Open Inference Protocol (/v2) endpoints as {error}.',
      )
      .setVersion('0.1.0')
      .build(),
  );
  // Schemas the DTOs refer to by name that decorators cannot declare (see tensor-schemas.ts).
  Object.assign(((document.components ??= {}).schemas ??= {}), TENSOR_SCHEMAS);
  SwaggerModule.setup('docs', app, document, { jsonDocumentUrl: 'docs-json' });
  return app;
}
