import { BadRequestException } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { validateShallow } from '../../common/app-validation.pipe';
import { ServedModel } from '../../model/served-model';
import { TensorSpec } from '../../model/signature';
import {
  checkInputNames,
  EncodedTensor,
  encodeV2Tensor,
  toV2Datatype,
} from '../../model/tensor-codec';
import { Tensor, TensorMap, toNumbers } from '../../model/tensor';
import {
  V2InferRequestDto,
  V2InferResponseDto,
  V2ModelMetadataDto,
  V2RequestInputDto,
  V2RequestOutputDto,
  V2ResponseOutputDto,
  V2ServerMetadataDto,
  V2TensorMetadataDto,
} from './dto/v2.dto';

export const SERVER_NAME = 'tfjs-model-server';
export const SERVER_VERSION = '0.1.0';

export function toServerMetadata(): V2ServerMetadataDto {
  return { name: SERVER_NAME, version: SERVER_VERSION, extensions: [] };
}

const tensorMetadata = (spec: TensorSpec): V2TensorMetadataDto => ({
  name: spec.name,
  datatype: toV2Datatype(spec.dtype),
  shape: spec.shape,
});

/** `platform` follows the spec's <framework>_<format> naming (e.g. tensorflow_savedmodel). */
export function toModelMetadata(model: ServedModel, versions: ServedModel[]): V2ModelMetadataDto {
  return {
    name: model.name,
    versions: versions.map((m) => String(m.version)),
    platform: model.platform,
    inputs: model.signature.inputs.map(tensorMetadata),
    outputs: model.signature.outputs.map(tensorMetadata),
  };
}

/**
 * Checks one entry of `inputs`/`outputs` against its DTO with the body's rules, shallowly:
 * class-transformer's deep copy of `data` would cost several times the JSON parse.
 */
function checkEntry<T extends object>(type: new () => T, value: unknown, where: string): T {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new BadRequestException(`${where} must be an object`);
  }
  const { instance: entry, errors } = validateShallow(type, value);
  if (errors.length > 0) {
    const messages = errors.flatMap((e) => Object.values(e.constraints ?? {}));
    throw new BadRequestException(messages.map((m) => `${where}: ${m}`).join('; '));
  }
  return entry;
}

/** Every model input exactly once (by name), each checked and packed by the codec. */
export function encodeInferRequest(model: ServedModel, body: V2InferRequestDto): EncodedTensor[] {
  const names = model.signature.inputs.map((spec) => spec.name);
  const inputs = body.inputs.map((input, i) =>
    checkEntry(V2RequestInputDto, input, `inputs[${i}]`),
  );
  const seen = new Set<string>();
  for (const input of inputs) {
    if (seen.has(input.name)) {
      throw new BadRequestException(`inputs: input '${input.name}' is given more than once`);
    }
    seen.add(input.name);
  }
  const byName = new Map(inputs.map((input, i) => [input.name, i]));
  checkInputNames(Object.fromEntries(byName), names, 'inputs');
  return model.signature.inputs.map((spec) => {
    const i = byName.get(spec.name)!;
    return encodeV2Tensor(spec, inputs[i], `inputs[${i}] '${spec.name}'`);
  });
}

/** The outputs a request asks for (all when it names none); an unknown name is a 400. */
export function selectOutputs(model: ServedModel, body: V2InferRequestDto): TensorSpec[] {
  const all = model.signature.outputs;
  if (!body.outputs) return all;
  const requested = body.outputs.map((o, i) => checkEntry(V2RequestOutputDto, o, `outputs[${i}]`));
  return requested.map(({ name }) => {
    const spec = all.find((s) => s.name === name);
    if (!spec) {
      throw new BadRequestException(
        `outputs: unknown output '${name}'; the model's outputs are ${all.map((s) => s.name).join(', ')}`,
      );
    }
    return spec;
  });
}

function toOutput(spec: TensorSpec, tensor: Tensor): V2ResponseOutputDto {
  const datatype = toV2Datatype(spec.dtype);
  const flat = toNumbers(tensor);
  return {
    name: spec.name,
    shape: tensor.shape,
    datatype,
    // Bool tensors are one byte per element; V2 BOOL data is JSON booleans.
    data: datatype === 'BOOL' ? flat.map((v) => v === 1) : flat,
  };
}

export function toInferResponse(
  model: ServedModel,
  body: V2InferRequestDto,
  selected: TensorSpec[],
  outputs: TensorMap,
): V2InferResponseDto {
  return {
    model_name: model.name,
    model_version: String(model.version),
    id: body.id ?? randomUUID(),
    outputs: selected.map((spec) => toOutput(spec, outputs[spec.name])),
  };
}
