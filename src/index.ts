/**
 * The package entry (`require('tfjs-model-server')`): what a training script or a host app uses
 * without reaching into the source tree. Importing it starts nothing (the server is dist/main.js;
 * a host Nest app imports ModelServingModule.forRoot(options)).
 */
export { nextVersion, saveToRepository } from './core/catalog/save-to-repository';
export type { RepositoryTarget } from './core/catalog/save-to-repository';
export type { SavableModel } from './engines/tfjs/tfjs-writer';
export { ModelServingModule, MODEL_SERVING_OPTIONS } from './serving.module';
export { GrpcModule } from './edge/grpc/grpc.module';
export type { ModelServingOptions } from './serving.module';
export { ModelService } from './core/model.service';
export type { PredictOptions, PredictResult } from './core/model.service';
export type { ModelDescription } from './core/catalog/model-catalog';
export type { LabelledPrediction } from './core/prediction-rows';
export { ServingError, SERVING_CODES } from './errors/serving-error';
export type { ServingCode, ServingErrorData, ServingReason } from './errors/serving-error';
export type { VersionStatus } from './core/catalog/model-registry';
export type {
  ModelFormat,
  ModelMetadata,
  ModelState,
  ServedModel,
} from './core/catalog/served-model';
export type { ModelSignature, TensorSpec } from './tensor/signature';
export type { Tensor, TensorDtype, TensorMap } from './tensor/tensor';
export type { EncodedTensor } from './tensor/tensor';
