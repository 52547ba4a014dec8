import { Module } from '@nestjs/common';
import { APP_FILTER, APP_PIPE } from '@nestjs/core';
import { CatalogModule } from './edge/catalog/catalog.module';
import { AppValidationPipe } from './edge/body/app-validation.pipe';
import { HttpErrorFilter } from './edge/errors/http-error.filter';
import { JsonParsePool } from './edge/body/json-parse-pool';
import { AppConfig } from './config/app-config';
import { ConfigModule } from './config/config.module';
import { GrpcModule } from './edge/grpc/grpc.module';
import { HealthModule } from './edge/health/health.module';
import { LifecycleModule } from './core/lifecycle/lifecycle.module';
import { ObservabilityModule } from './observability/observability.module';
import { PredictModule } from './edge/predict/predict.module';
import { TfServingModule } from './edge/tfserving/tfserving.module';
import { V2Module } from './edge/v2/v2.module';

@Module({
  imports: [
    ConfigModule,
    LifecycleModule,
    ObservabilityModule,
    PredictModule,
    CatalogModule,
    HealthModule,
    TfServingModule,
    V2Module,
    GrpcModule,
  ],
  providers: [
    // App-level providers rather than app.useGlobal*(), so every test module gets them too.
    { provide: APP_PIPE, useClass: AppValidationPipe },
    { provide: APP_FILTER, useClass: HttpErrorFilter },
    // A provider so that app.close() ends its threads; configureApp hands it to the body parser.
    {
      provide: JsonParsePool,
      useFactory: (config: AppConfig) => new JsonParsePool(config.JSON_PARSE_THREADS),
      inject: [AppConfig],
    },
  ],
})
export class AppModule {}
