/**
 * The package entry (`require('tfjs-model-server')`): what a training script or a host app uses
 * without reaching into the source tree. Importing it starts nothing (the server is dist/main.js).
 */
export { nextVersion, saveToRepository } from './core/catalog/save-to-repository';
export type { RepositoryTarget } from './core/catalog/save-to-repository';
export type { SavableModel } from './engines/tfjs/tfjs-writer';
export { ModelService } from './core/model.service';
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
