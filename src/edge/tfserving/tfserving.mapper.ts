import { clip } from '../../errors/client-text';
import { ServingError } from '../../errors/serving-error';
import { VersionStatus } from '../../core/catalog/model-registry';
import { ServedModel } from '../../core/catalog/served-model';
import { TF_DATA_TYPES } from '../../tensor/dtypes';
import { TensorSpec } from '../../tensor/signature';
import type { EncodedTensor } from '../../tensor/tensor';
import { encodeColumns, encodeInstances } from '../../core/request-formats';
import {
  TfsMetadataResponseDto,
  TfsModelStatusResponseDto,
  TfsPredictRequestDto,
  TfsPredictResponseDto,
} from './dto/tfserving.dto';

/** The one signature a TF.js model has, under the name TF Serving gives the default. */
export const SIGNATURE_NAME = 'serving_default';

/**
 * TF Serving labels come from its model config file; this server has none to assign.
 * `instead` says how this protocol names a version.
 */
export function labelNotFound(
  name: string,
  label: string,
  versions: ServedModel[],
  instead: string,
): ServingError {
  return ServingError.notFound(
    `Unrecognized servable version label: '${clip(label)}' for model '${clip(name)}'; this server assigns no version labels, ${instead} (loaded: ${versions.map((m) => m.version).join(', ')})`,
  );
}

/** GetModelStatusResponse as TF Serving's REST API renders it. */
export function toModelStatus(versions: VersionStatus[]): TfsModelStatusResponseDto {
  return {
    model_version_status: versions.map(({ version, state, error }) => ({
      version: String(version),
      state,
      status: { error_code: error ? 'UNKNOWN' : 'OK', error_message: error ?? '' },
    })),
  };
}

const tensorInfo = (spec: TensorSpec) => ({
  dtype: TF_DATA_TYPES[spec.dtype] ?? 'DT_INVALID',
  tensor_shape: {
    dim: spec.shape.map((size) => ({ size: String(size), name: '' })),
    unknown_rank: false,
  },
  name: `${spec.name}:0`,
});

const tensorInfos = (specs: TensorSpec[]) =>
  Object.fromEntries(specs.map((spec) => [spec.name, tensorInfo(spec)]));

/** GetModelMetadataResponse: model_spec plus the signature_def map (int64 sizes as strings, as proto JSON). */
export function toMetadata(model: ServedModel): TfsMetadataResponseDto {
  return {
    model_spec: { name: model.name, signature_name: '', version: String(model.version) },
    metadata: {
      signature_def: {
        signature_def: {
          [SIGNATURE_NAME]: {
            inputs: tensorInfos(model.signature.inputs),
            outputs: tensorInfos(model.signature.outputs),
            method_name: 'tensorflow/serving/predict',
          },
        },
      },
    },
  };
}

/** Reads a predict body in either format; the values themselves are checked by the codec. */
export function encodePredictRequest(
  model: ServedModel,
  body: TfsPredictRequestDto,
): { columnar: boolean; tensors: EncodedTensor[] } {
  const { signature_name: signature, instances, inputs } = body;
  // TF Serving reads an empty signature_name as the default one, as some clients send it.
  if (signature !== undefined && signature !== '' && signature !== SIGNATURE_NAME) {
    throw ServingError.invalid(
      `Serving signature name: "${clip(signature)}" not found; model '${model.name}' has only "${SIGNATURE_NAME}"`,
    );
  }
  if (instances !== undefined && inputs !== undefined) {
    throw ServingError.invalid(
      'Send either "instances" (row format) or "inputs" (columnar format), not both',
    );
  }
  if (inputs !== undefined)
    return { columnar: true, tensors: encodeColumns(model.signature.inputs, inputs) };
  if (instances === undefined) {
    throw ServingError.invalid('Missing "instances" (row format) or "inputs" (columnar format)');
  }
  if (!Array.isArray(instances) || instances.length === 0) {
    throw ServingError.invalid('"instances" must be a non-empty list, one entry per example');
  }
  return { columnar: false, tensors: encodeInstances(model.signature.inputs, instances) };
}

/**
 * Row format answers `predictions` (one entry per instance; objects keyed by output name when
 * there are several outputs); columnar answers `outputs` (the tensors, keyed when several).
 */
export function toPredictResponse(
  model: ServedModel,
  outputs: Record<string, unknown[]>,
  columnar: boolean,
): TfsPredictResponseDto {
  const names = model.signature.outputs.map((spec) => spec.name);
  if (columnar) return { outputs: names.length === 1 ? outputs[names[0]] : outputs };
  if (names.length === 1) return { predictions: outputs[names[0]] };
  const rows = outputs[names[0]].map((_, row) =>
    Object.fromEntries(names.map((name) => [name, outputs[name][row]])),
  );
  return { predictions: rows };
}
