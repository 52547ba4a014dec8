import { Injectable } from '@nestjs/common';
import { ModelService, PredictResult } from '../../core/model.service';

export type { PredictResult } from '../../core/model.service';

export interface PredictParams {
  instances: unknown[];
  model?: string;
  version?: string | number;
}

/**
 * `POST /predict`: the body's fields handed to ModelService.predict, which a host's own
 * providers call the same way; what it resolves to is the answer.
 */
@Injectable()
export class PredictService {
  constructor(private readonly models: ModelService) {}

  predict(params: PredictParams): Promise<PredictResult> {
    return this.models.predict(params.model, params.instances, { version: params.version });
  }
}
