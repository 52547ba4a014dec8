import { Module } from '@nestjs/common';
import { AppConfig } from '../config/app-config';
import { ImageModule } from '../image/image.module';
import { ModelCatalog } from './catalog/model-catalog';
import { ModelRegistry } from './catalog/model-registry';
import { BatchScheduler } from './inference/batch-scheduler';
import { InferencePool } from './inference/inference-pool';
import { InferenceObserver } from './inference/inference-observer';
import { ModelStatistics } from './inference/model-statistics';
import {
  createBatchScheduler,
  createInferencePool,
  InferenceService,
} from './inference/inference.service';
import { ModelLifecycle } from './lifecycle/model-lifecycle';
import { ModelService } from './model.service';

/**
 * The serving core: ModelService and the providers behind it. The pool, the scheduler and the
 * registry are providers too, so a test replaces any of them with overrideProvider.
 */
@Module({
  imports: [ImageModule],
  providers: [
    { provide: InferencePool, useFactory: createInferencePool, inject: [AppConfig] },
    {
      provide: ModelRegistry,
      useFactory: (pool: InferencePool) => new ModelRegistry(pool),
      inject: [InferencePool],
    },
    {
      provide: ModelStatistics,
      useFactory: (registry: ModelRegistry, observer?: InferenceObserver) =>
        new ModelStatistics(registry, observer),
      inject: [ModelRegistry, { token: InferenceObserver, optional: true }],
    },
    {
      provide: BatchScheduler,
      useFactory: createBatchScheduler,
      inject: [AppConfig, InferencePool, ModelRegistry, ModelStatistics],
    },
    ModelCatalog,
    ModelLifecycle,
    InferenceService,
    ModelService,
  ],
  exports: [ModelService, ModelCatalog, ModelLifecycle, InferenceService, InferencePool],
})
export class ModelModule {}
