import { Module } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import { ModelModule } from '../../core/model.module';
import { HealthController } from './health.controller';
import { ModelsHealthIndicator } from './models.health';

@Module({
  imports: [TerminusModule, ModelModule],
  controllers: [HealthController],
  providers: [ModelsHealthIndicator],
})
export class HealthModule {}
