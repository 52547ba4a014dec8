import { Global, Module, OnModuleInit } from '@nestjs/common';
import { LoggerModule } from 'nestjs-pino';
import { AppConfig } from '../config/app-config';
import { ImageObserver } from '../image/image-observer';
import { InferenceObserver } from '../core/inference/inference-observer';
import { ModelModule } from '../core/model.module';
import { ModelService } from '../core/model.service';
import { AdminServer } from './admin-server';
import { rootLogger } from './http-logger';
import { MetricsController } from './metrics.controller';
import { MetricsService } from './metrics.service';

/**
 * Metrics (GET /metrics, prom-client) and JSON logs (pino). The request-log middleware itself is
 * installed by configureApp ahead of the body parser; nestjs-pino reuses it (`useExisting`) and
 * routes Nest's own logs through the same pino logger.
 */
@Global()
@Module({
  imports: [
    ModelModule,
    LoggerModule.forRootAsync({
      inject: [AppConfig],
      useFactory: (config: AppConfig) => ({
        pinoHttp: { logger: rootLogger(config) },
        useExisting: true,
      }),
    }),
  ],
  controllers: [MetricsController],
  providers: [
    MetricsService,
    { provide: InferenceObserver, useExisting: MetricsService },
    AdminServer,
    { provide: ImageObserver, useExisting: MetricsService },
  ],
  exports: [MetricsService, InferenceObserver, ImageObserver],
})
export class ObservabilityModule implements OnModuleInit {
  constructor(
    private readonly metrics: MetricsService,
    private readonly models: ModelService,
  ) {}

  onModuleInit(): void {
    this.metrics.setStatsSource(() => this.models.runtimeStats());
  }
}
