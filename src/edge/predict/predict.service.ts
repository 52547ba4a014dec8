import { Injectable } from '@nestjs/common';
import { currentRequestSignal } from '../../core/request-scope';
import { ImageService } from '../../image/image.service';
import { ModelService } from '../../core/model.service';
import { encodeInstances } from '../tfserving/request-formats';
import { toRows } from './prediction-rows';

export interface PredictParams {
  instances: unknown[];
  model?: string;
  version?: string | number;
}

export interface PredictResult {
  model: string;
  version: number;
  predictions: unknown[];
}

/**
 * `POST /predict`: instances as numbers (checked by the codec) or as images (`{"b64": ...}` in
 * JSON, files in multipart), run through ModelService.infer like every protocol, answered in rows.
 */
@Injectable()
export class PredictService {
  constructor(
    private readonly models: ModelService,
    private readonly images: ImageService,
  ) {}

  async predict(params: PredictParams): Promise<PredictResult> {
    const model = this.models.resolve(params.model, params.version);
    this.models.checkBatchSize(params.instances.length);
    const images = this.images.findImages(model, params.instances);
    const inputs = images
      ? await this.images.encodeRows(model, images, currentRequestSignal())
      : encodeInstances(model.signature.inputs, params.instances);
    const outputs = await this.models.infer(model, inputs);
    return { model: model.name, version: model.version, predictions: toRows(model, outputs) };
  }
}
