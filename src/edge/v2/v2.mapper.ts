import { randomUUID } from 'node:crypto';
import { validateShallow } from '../body/app-validation.pipe';
import { clip } from '../../errors/client-text';
import { ServingError } from '../../errors/serving-error';
import { ServedModel } from '../../core/catalog/served-model';
import { checkInputNames } from '../../tensor/packing';
import { TensorSpec } from '../../tensor/signature';
import type { NumericArray } from '../../tensor/storage';
import { isStringTensor, isUtf8Text, stringElements } from '../../tensor/strings';
import { EncodedTensor, Tensor, TensorMap, toNumbers } from '../../tensor/tensor';
import type { BinaryTail } from '../body/json-body.middleware';
import {
  decodeBytesElements,
  decodeNumeric,
  INFERENCE_HEADER,
  rawFormShape,
  tensorBytes,
} from './v2-binary';
import { encodeV2Elements, encodeV2Tensor, encodeV2Values } from './v2-codec';
import { elementSize, toV2Datatype } from './v2-datatypes';
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
  return {
    name: SERVER_NAME,
    version: SERVER_VERSION,
    extensions: ['binary_tensor_data', 'model_repository', 'model_configuration', 'statistics'],
  };
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
    throw ServingError.invalid(`${where} must be an object`);
  }
  const { instance: entry, errors } = validateShallow(type, value, where);
  if (errors.length > 0) {
    const messages = errors.flatMap((e) => Object.values(e.constraints ?? {}));
    throw ServingError.invalid(messages.map((m) => `${where}: ${m}`).join('; '));
  }
  return entry;
}

/** What the V2 infer routes receive: the parsed body (or JSON header) and any binary data after it. */
export interface V2Payload {
  body: unknown;
  tail?: BinaryTail;
  /** `Accept` prefers application/octet-stream: outputs in binary unless the header says otherwise. */
  acceptsBinary: boolean;
}

/** One request input with its binary data decoded: numbers, or BYTES elements kept as buffers. */
export interface DecodedV2Input extends V2RequestInputDto {
  values?: NumericArray;
  elements?: Buffer[];
}

/** The request body's own fields, checked as the validation pipe would (shallowly). */
function checkBody(value: unknown): V2InferRequestDto {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw ServingError.invalid('The request body must be a JSON object');
  }
  const { instance, errors } = validateShallow(V2InferRequestDto, value);
  if (errors.length > 0) {
    throw ServingError.invalid(
      errors.flatMap((e) => Object.values(e.constraints ?? {})).join('; '),
    );
  }
  return instance;
}

/** The raw form (header length 0): a header for the only input, sized by the bytes. */
function rawFormBody(model: ServedModel, byteLength: number): V2InferRequestDto {
  const specs = model.signature.inputs;
  if (specs.length !== 1) {
    throw ServingError.invalid(
      `The raw binary form (${INFERENCE_HEADER}: 0) needs a single-input model; '${model.name}' has inputs ${specs.map((s) => s.name).join(', ')}: send a JSON header naming each`,
    );
  }
  const { datatype, shape } = rawFormShape(specs[0], byteLength);
  const input = {
    name: specs[0].name,
    shape,
    datatype,
    parameters: { binary_data_size: byteLength },
  };
  return Object.assign(new V2InferRequestDto(), { inputs: [input] });
}

/**
 * Cuts the bytes after the JSON header into the binary inputs, in input order, and decodes
 * each: every `binary_data_size` a byte count, and together exactly the bytes that follow.
 */
function decodeBinaryInputs(
  inputs: V2RequestInputDto[],
  tail: BinaryTail | undefined,
): DecodedV2Input[] {
  const sizes = inputs.map((input, i) => {
    const where = `inputs[${i}] '${input.name}'`;
    const size = input.parameters?.binary_data_size;
    if (size === undefined) {
      if (input.data === undefined) {
        throw ServingError.invalid(
          `${where}: data must be an array, or parameters.binary_data_size given with the bytes after the JSON header`,
        );
      }
      return 0;
    }
    if (!tail) {
      throw ServingError.invalid(
        `${where}: has parameters.binary_data_size but the request has no ${INFERENCE_HEADER} header; send the JSON header's length in it, followed by the binary data`,
      );
    }
    if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) {
      throw ServingError.invalid(
        `${where}: parameters.binary_data_size must be a byte count (a non-negative integer), got ${clip(JSON.stringify(size))}`,
      );
    }
    if (input.data !== undefined) {
      throw ServingError.invalid(
        `${where}: has both data and parameters.binary_data_size; send one or the other`,
      );
    }
    return size;
  });
  const total = sizes.reduce((a, b) => a + b, 0);
  const available = tail?.bytes.length ?? 0;
  if (total > available) {
    throw ServingError.invalid(
      `The inputs' binary_data_size add up to ${total} bytes but ${available} bytes follow the JSON header (${INFERENCE_HEADER})`,
    );
  }
  if (total < available) {
    throw ServingError.invalid(
      `${available - total} byte(s) left over after the binary inputs: their binary_data_size add up to ${total} bytes but ${available} bytes follow the JSON header (${INFERENCE_HEADER})`,
    );
  }
  let offset = 0;
  return inputs.map((input, i) => {
    if (input.parameters?.binary_data_size === undefined) return input;
    const bytes = tail!.bytes.subarray(offset, (offset += sizes[i]));
    const where = `inputs[${i}] '${input.name}'`;
    const decoded: DecodedV2Input = Object.assign(new V2RequestInputDto(), input);
    if (input.datatype === 'BYTES') {
      decoded.elements = decodeBytesElements(bytes, elementCount(input.shape), where);
    } else if (elementSize(input.datatype) !== undefined) {
      decoded.values = decodeNumeric(bytes, input.datatype, input.shape, where);
    }
    return decoded;
  });
}

const elementCount = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

/**
 * A V2 infer request as received (JSON, JSON header + binary data, or the raw form), checked
 * and packed: every model input exactly once (by name), each through the codec.
 */
/**
 * Turns a BYTES input into a tensor input (the images feature: image files, per the model's
 * metadata), or returns undefined when the model takes none (the codec then says why not).
 */
export type BytesEncoder = (
  model: ServedModel,
  input: DecodedV2Input,
  where: string,
) => Promise<EncodedTensor> | undefined;

export async function readInferRequest(
  model: ServedModel,
  payload: V2Payload,
  bytes?: BytesEncoder,
): Promise<{ body: V2InferRequestDto; inputs: EncodedTensor[] }> {
  const body = payload.tail?.headerless
    ? rawFormBody(model, payload.tail.bytes.length)
    : checkBody(payload.body);
  if (body.model_name !== undefined && body.model_name !== model.name) {
    throw ServingError.invalid(
      `model_name '${clip(body.model_name)}' differs from the model in the path, '${model.name}'`,
    );
  }
  return { body, inputs: await encodeInferRequest(model, body, payload.tail, bytes) };
}

/** Every model input exactly once (by name), each checked and packed by the codec. */
export function encodeInferRequest(
  model: ServedModel,
  body: V2InferRequestDto,
  tail?: BinaryTail,
  bytes?: BytesEncoder,
): Promise<EncodedTensor[]> {
  const names = model.signature.inputs.map((spec) => spec.name);
  const checked = atMostOneEach(body.inputs, names).map((input, i) =>
    checkEntry(V2RequestInputDto, input, `inputs[${i}]`),
  );
  const seen = new Set<string>();
  for (const input of checked) {
    if (seen.has(input.name)) {
      throw ServingError.invalid(
        `inputs: input '${clip(input.name)}' is given more than once; send each of the model's ${names.length} input(s) once`,
      );
    }
    seen.add(input.name);
  }
  const byName = new Map(checked.map((input, i) => [input.name, i]));
  checkInputNames(Object.fromEntries(byName), names, 'inputs');
  const inputs = decodeBinaryInputs(checked, tail);
  return Promise.all(
    model.signature.inputs.map(async (spec) => {
      const i = byName.get(spec.name)!;
      const input = inputs[i];
      const where = `inputs[${i}] '${spec.name}'`;
      if (input.values) return encodeV2Values(spec, input, input.values, where);
      // BYTES into a tensor input: image files, for a model whose metadata declares an image.
      const image = input.datatype === 'BYTES' ? bytes?.(model, input, where) : undefined;
      if (image) return image;
      if (input.elements) return encodeV2Elements(spec, input, input.elements, where);
      return encodeV2Tensor(spec, { ...input, data: input.data ?? [] }, where);
    }),
  );
}

/**
 * The entries worth reading: one more than the model has tensors. More entries than tensors
 * hold an unknown or a repeated name, and the first extra one is enough to say which: reading
 * 100,000 of them would cost the main thread a second for the same 400.
 */
const atMostOneEach = <T>(entries: T[], names: string[]): T[] =>
  entries.length > names.length ? entries.slice(0, names.length + 1) : entries;

/**
 * The outputs a request asks for (all when it names none), each at most once: an unknown or a
 * repeated name is a 400 (100,000 copies of one name would otherwise answer 100,000 copies).
 */
export function selectOutputs(model: ServedModel, body: V2InferRequestDto): TensorSpec[] {
  const all = model.signature.outputs;
  if (!body.outputs) return all;
  const names = all.map((s) => s.name);
  const requested = atMostOneEach(body.outputs, names).map((o, i) =>
    checkEntry(V2RequestOutputDto, o, `outputs[${i}]`),
  );
  const seen = new Set<string>();
  return requested.map(({ name }) => {
    const spec = all.find((s) => s.name === name);
    if (!spec) {
      throw ServingError.invalid(
        `outputs: unknown output '${clip(name)}'; the model's outputs are ${names.join(', ')}`,
      );
    }
    if (seen.has(name)) {
      throw ServingError.invalid(
        `outputs: output '${name}' is asked for more than once; ask for each of the model's outputs (${names.join(', ')}) at most once`,
      );
    }
    seen.add(name);
    return spec;
  });
}

function toOutput(spec: TensorSpec, tensor: Tensor): V2ResponseOutputDto {
  const datatype = toV2Datatype(spec.dtype);
  if (isStringTensor(tensor)) {
    return { name: spec.name, shape: tensor.shape, datatype, data: jsonTextElements(tensor) };
  }
  const flat = toNumbers(tensor);
  return {
    name: spec.name,
    shape: tensor.shape,
    datatype,
    // Bool tensors are one byte per element; V2 BOOL data is JSON booleans.
    data: datatype === 'BOOL' ? flat.map((v) => v === 1) : flat,
  };
}

/**
 * BYTES output elements as JSON strings. An element that is not UTF-8 has no exact JSON string:
 * the client is told to ask for that output as binary data rather than given altered bytes.
 */
function jsonTextElements(tensor: Tensor): string[] {
  return stringElements(tensor).map((bytes, i) => {
    if (!isUtf8Text(bytes)) {
      throw ServingError.invalid(
        `output '${tensor.name}': element ${i} (flat index) is not valid UTF-8, so a JSON string cannot hold it byte-exact; ask for this output as binary data (outputs: [{"name": "${tensor.name}", "parameters": {"binary_data": true}}])`,
      );
    }
    return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8');
  });
}

const isFlag = (value: unknown): value is boolean | undefined =>
  value === undefined || typeof value === 'boolean';

/**
 * The outputs to answer as binary data: `binary_data` on an output, else `binary_data_output`
 * on the request, else whether `Accept` prefers application/octet-stream.
 */
export function binaryOutputs(
  body: V2InferRequestDto,
  selected: TensorSpec[],
  acceptsBinary: boolean,
): Set<string> {
  const all = body.parameters?.binary_data_output;
  if (!isFlag(all)) {
    throw ServingError.invalid(
      `parameters.binary_data_output must be a boolean, got ${clip(JSON.stringify(all))}`,
    );
  }
  const perOutput = new Map<string, unknown>(
    (body.outputs ?? []).map((o) => [o.name, o.parameters?.binary_data]),
  );
  return new Set(
    selected
      .filter((spec) => {
        const own = perOutput.get(spec.name);
        if (!isFlag(own)) {
          throw ServingError.invalid(
            `outputs '${spec.name}': parameters.binary_data must be a boolean, got ${clip(JSON.stringify(own))}`,
          );
        }
        return own ?? all ?? acceptsBinary;
      })
      .map((spec) => spec.name),
  );
}

/** The JSON response, or its header plus each binary output's bytes in output order. */
export interface V2InferReply {
  header: V2InferResponseDto;
  binary: Buffer[];
}

export function toInferResponse(
  model: ServedModel,
  body: V2InferRequestDto,
  selected: TensorSpec[],
  outputs: TensorMap,
  binary: Set<string> = new Set(),
): V2InferReply {
  const chunks: Buffer[] = [];
  const toEntry = (spec: TensorSpec): V2ResponseOutputDto => {
    const tensor = outputs[spec.name];
    if (!binary.has(spec.name)) return toOutput(spec, tensor);
    const { datatype, bytes } = tensorBytes(tensor);
    chunks.push(bytes);
    return {
      name: spec.name,
      shape: tensor.shape,
      datatype,
      parameters: { binary_data_size: bytes.length },
    };
  };
  return {
    header: {
      model_name: model.name,
      model_version: String(model.version),
      id: body.id ?? randomUUID(),
      outputs: selected.map(toEntry),
    },
    binary: chunks,
  };
}
