import { ConfigurableModuleBuilder, Module, NestModule, Type } from '@nestjs/common';
import { PATH_METADATA } from '@nestjs/common/constants';
import { APP_FILTER, HttpAdapterHost } from '@nestjs/core';
import type { Application, NextFunction, Request, RequestHandler, Response } from 'express';
import { AppConfig, configFromOptions, ModelServingOptions } from './config/app-config';
import { LifecycleModule } from './core/lifecycle/lifecycle.module';
import { ModelModule } from './core/model.module';
import { JsonParsePool } from './edge/body/json-parse-pool';
import { servingBody } from './edge/body/serving-body';
import { CatalogController } from './edge/catalog/catalog.controller';
import { CatalogModule } from './edge/catalog/catalog.module';
import { HttpErrorFilter } from './edge/errors/http-error.filter';
import { HealthController } from './edge/health/health.controller';
import { HealthModule } from './edge/health/health.module';
import { PredictController } from './edge/predict/predict.controller';
import { PredictModule } from './edge/predict/predict.module';
import { TfServingController } from './edge/tfserving/tfserving.controller';
import { TfServingModule } from './edge/tfserving/tfserving.module';
import { V2Controller } from './edge/v2/v2.controller';
import { V2Module } from './edge/v2/v2.module';
import { MetricsController } from './observability/metrics.controller';
import { ObservabilityModule } from './observability/observability.module';

export type { ModelServingOptions } from './config/app-config';

export const { ConfigurableModuleClass, MODULE_OPTIONS_TOKEN: MODEL_SERVING_OPTIONS } =
  new ConfigurableModuleBuilder<ModelServingOptions>()
    .setClassMethodName('forRoot')
    // Global: the feature modules inside read its configuration, and a host injects ModelService
    // anywhere without importing the module again.
    .setExtras({}, (definition) => ({ ...definition, global: true }))
    .build();

/** The paths of the module's routes: its middleware and error bodies apply to these only. */
const CONTROLLERS: Type[] = [
  PredictController,
  CatalogController,
  HealthController,
  TfServingController,
  V2Controller,
  MetricsController,
];
const PREFIXES = CONTROLLERS.map(
  (controller) => `/${String(Reflect.getMetadata(PATH_METADATA, controller))}`,
);

function ownsPath(req: Request): boolean {
  const path = req.path;
  return PREFIXES.some((prefix) => path === prefix || path.startsWith(`${prefix}/`));
}

/** The names of the body parsers Nest installs when an app is created with `bodyParser: true`. */
const NEST_PARSERS = new Set(['jsonParser', 'urlencodedParser']);

/**
 * Nest's own body parsers (100 kB, before any module middleware) would read the module's bodies
 * first; on the module's paths they step aside for its parser, and keep serving the host's.
 */
function yieldHostParsers(app: unknown): void {
  type Layer = { name: string; handle: RequestHandler };
  const stack = (app as { router?: { stack?: Layer[] } }).router?.stack ?? [];
  for (const layer of stack) {
    if (!NEST_PARSERS.has(layer.name)) continue;
    const parse = layer.handle;
    layer.handle = (req: Request, res: Response, next: NextFunction) =>
      ownsPath(req) ? next() : parse(req, res, next);
  }
}

/**
 * The model server as a module a Nest app imports: `ModelServingModule.forRoot(options)` (or
 * forRootAsync) serves the repository at `modelDir` over /predict, /models, /health, /metrics,
 * TF Serving's /v1 and V2's /v2, and provides ModelService to the host's own providers. Its body
 * parser, validation and error bodies apply to its own routes only. The standalone server
 * (main.ts) is one host of it.
 */
@Module({
  imports: [
    ModelModule,
    LifecycleModule,
    ObservabilityModule,
    PredictModule,
    CatalogModule,
    HealthModule,
    TfServingModule,
    V2Module,
  ],
  providers: [
    { provide: AppConfig, useFactory: configFromOptions, inject: [MODEL_SERVING_OPTIONS] },
    // An app-wide filter so it also sees errors raised before routing; it answers the host's
    // own requests as Nest would (see HttpErrorFilter).
    { provide: APP_FILTER, useClass: HttpErrorFilter },
    // A provider so that app.close() ends its threads.
    {
      provide: JsonParsePool,
      useFactory: (config: AppConfig) => new JsonParsePool(config.JSON_PARSE_THREADS),
      inject: [AppConfig],
    },
  ],
  exports: [AppConfig, ModelModule],
})
export class ModelServingModule extends ConfigurableModuleClass implements NestModule {
  constructor(
    private readonly config: AppConfig,
    private readonly parsePool: JsonParsePool,
    private readonly adapterHost: HttpAdapterHost,
  ) {
    super();
  }

  configure(): void {
    const app = this.adapterHost.httpAdapter?.getInstance<Application>();
    if (!app) return;
    yieldHostParsers(app);
    // Express's own app.use, not consumer.forRoutes: Nest would mount a middleware for every path
    // as a route (app.all), which sets req.route and hides from the 405 answer that no endpoint
    // took the request. Installed during init, so it runs before every module's middleware.
    app.use(servingBody(this.config, this.parsePool, ownsPath));
  }
}
