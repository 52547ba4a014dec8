import { Injectable } from '@nestjs/common';
import { HealthIndicatorService } from '@nestjs/terminus';
import { ModelService } from '../../core/model.service';

/** Up once every model is loaded and warmed, down again when shutdown begins. */
@Injectable()
export class ModelsHealthIndicator {
  constructor(
    private readonly models: ModelService,
    private readonly health: HealthIndicatorService,
  ) {}

  check() {
    const indicator = this.health.check('models');
    const loaded = this.models.isReady() ? this.models.modelNames() : [];
    return this.models.isReady() ? indicator.up({ loaded }) : indicator.down({ loaded });
  }
}
