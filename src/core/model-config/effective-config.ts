import { TRITON_DATA_TYPES } from '../../tensor/dtypes';
import type { ModelSignature, TensorSpec } from '../../tensor/signature';
import type { ModelConfig, TensorConfig } from './model-config';

/** What a loaded model tells about itself, from which its configuration is completed and checked. */
export interface LoadedModelFacts {
  name: string;
  platform: string;
  backend: string;
  signature: ModelSignature;
}

const tensorConfig = (spec: TensorSpec): TensorConfig => ({
  name: spec.name,
  data_type: TRITON_DATA_TYPES[spec.dtype] ?? spec.dtype,
  dims: [...spec.shape],
});

/**
 * The configuration a model serves under: the user's when given, else one read from the model
 * itself (its full shapes, no batch dimension claimed).
 */
export function effectiveConfig(facts: LoadedModelFacts, user?: ModelConfig): ModelConfig {
  if (user) return { ...user, name: user.name ?? facts.name };
  return {
    name: facts.name,
    platform: facts.platform,
    backend: facts.backend,
    max_batch_size: 0,
    input: facts.signature.inputs.map(tensorConfig),
    output: facts.signature.outputs.map(tensorConfig),
  };
}
