import { ServingError } from '../../errors/serving-error';
import { clip } from '../../errors/client-text';
import type { V2InferReply, V2Payload } from '../v2/v2.mapper';
import { frameBytesElements } from '../v2/v2-binary';

/**
 * Between inference.GRPCInferenceService's messages (triton/grpc_service.proto, as proto-loader
 * gives them: snake_case, int64 as numbers, bytes as Buffers) and the HTTP V2 route's request
 * body + binary data: ModelInfer is then read, checked and answered by the same mapper and codec
 * as POST /v2/models/{name}/infer with binary data, so both say the same things.
 */

/** InferParameter: one of its fields is set, named by `parameter_choice` (proto-loader's oneofs). */
export interface InferParameter {
  parameter_choice?: string;
  bool_param?: boolean;
  int64_param?: number;
  string_param?: string;
  double_param?: number;
  uint64_param?: number;
}

export interface InferTensorContents {
  bool_contents: boolean[];
  int_contents: number[];
  int64_contents: number[];
  uint_contents: number[];
  uint64_contents: number[];
  fp32_contents: number[];
  fp64_contents: number[];
  bytes_contents: Buffer[];
}

export interface InferInputTensor {
  name: string;
  datatype: string;
  shape: number[];
  parameters: Record<string, InferParameter>;
  contents: InferTensorContents | null;
}

export interface ModelInferRequest {
  model_name: string;
  model_version: string;
  id: string;
  parameters: Record<string, InferParameter>;
  inputs: InferInputTensor[];
  outputs: { name: string; parameters: Record<string, InferParameter> }[];
  raw_input_contents: Buffer[];
}

export interface ModelInferResponse {
  model_name: string;
  model_version: string;
  id: string;
  outputs: { name: string; datatype: string; shape: number[] }[];
  raw_output_contents: Buffer[];
}

/** The typed field each datatype's values travel in (FP16 and BF16 have none: raw only). */
const CONTENTS_FIELD: Record<string, keyof InferTensorContents> = {
  BOOL: 'bool_contents',
  INT8: 'int_contents',
  INT16: 'int_contents',
  INT32: 'int_contents',
  INT64: 'int64_contents',
  UINT8: 'uint_contents',
  UINT16: 'uint_contents',
  UINT32: 'uint_contents',
  UINT64: 'uint64_contents',
  FP32: 'fp32_contents',
  FP64: 'fp64_contents',
  BYTES: 'bytes_contents',
};

/** A parameters map as the V2 JSON body has it: name -> the value of the field that is set. */
export function parameterValues(
  parameters: Record<string, InferParameter> | undefined,
): Record<string, unknown> {
  const values: Record<string, unknown> = {};
  for (const [name, parameter] of Object.entries(parameters ?? {})) {
    const field = parameter.parameter_choice as keyof InferParameter | undefined;
    if (field) values[name] = parameter[field];
  }
  return values;
}

const filledFields = (contents: InferTensorContents | null): (keyof InferTensorContents)[] =>
  contents
    ? (Object.keys(contents) as (keyof InferTensorContents)[]).filter(
        (field) => Array.isArray(contents[field]) && contents[field].length > 0,
      )
    : [];

/** One typed input as a V2 JSON input (its values in `data`), or BYTES as framed binary data. */
function typedInput(input: InferInputTensor, i: number, binary: Buffer[]): Record<string, unknown> {
  const where = `inputs[${i}] '${clip(input.name)}'`;
  const header = {
    name: input.name,
    datatype: input.datatype,
    shape: input.shape,
    parameters: parameterValues(input.parameters),
  };
  const field = CONTENTS_FIELD[input.datatype];
  const filled = filledFields(input.contents);
  if (field === undefined) {
    // FP16, BF16 and datatypes no one defines: the codec names what it takes, unless the
    // datatype is one that only raw contents can carry.
    if (input.datatype === 'FP16' || input.datatype === 'BF16') {
      throw ServingError.invalid(
        `${where}: ${input.datatype} has no typed contents field; send its bytes (little-endian) in raw_input_contents`,
      );
    }
    return { ...header, data: [] };
  }
  const stray = filled.find((name) => name !== field);
  if (stray) {
    throw ServingError.invalid(
      `${where}: datatype ${input.datatype} takes its values in contents.${field}, not contents.${stray}`,
    );
  }
  const values = input.contents?.[field] ?? [];
  if (field === 'bytes_contents') {
    const framed = frameBytesElements(values as Buffer[]);
    binary.push(framed);
    return { ...header, parameters: { ...header.parameters, binary_data_size: framed.length } };
  }
  return { ...header, data: values };
}

/**
 * A ModelInferRequest as the HTTP route's payload: the JSON body's fields, and the bytes after
 * the JSON header (raw_input_contents in input order, or typed BYTES contents framed).
 */
export function toV2Payload(request: ModelInferRequest): V2Payload {
  const raw = request.raw_input_contents ?? [];
  const binary: Buffer[] = [];
  let inputs: Record<string, unknown>[];
  if (raw.length > 0) {
    if (raw.length !== request.inputs.length) {
      throw ServingError.invalid(
        `raw_input_contents has ${raw.length} entries but inputs has ${request.inputs.length}; send one per input, in the order of inputs`,
      );
    }
    inputs = request.inputs.map((input, i) => {
      if (filledFields(input.contents).length > 0) {
        throw ServingError.invalid(
          `inputs[${i}] '${clip(input.name)}': has contents while the request has raw_input_contents; send every input one way or the other`,
        );
      }
      binary.push(raw[i]);
      return {
        name: input.name,
        datatype: input.datatype,
        shape: input.shape,
        parameters: { ...parameterValues(input.parameters), binary_data_size: raw[i].length },
      };
    });
  } else {
    inputs = request.inputs.map((input, i) => typedInput(input, i, binary));
  }
  const body: Record<string, unknown> = {
    inputs,
    parameters: parameterValues(request.parameters),
  };
  if (request.id) body.id = request.id;
  if (request.outputs.length > 0) {
    body.outputs = request.outputs.map((output) => ({
      name: output.name,
      parameters: parameterValues(output.parameters),
    }));
  }
  return {
    body,
    tail: binary.length > 0 ? { bytes: Buffer.concat(binary), headerless: false } : undefined,
    acceptsBinary: true,
  };
}

/** The HTTP route's answer, every output as binary data, as a ModelInferResponse (raw outputs). */
export function toModelInferResponse(reply: V2InferReply, id: string): ModelInferResponse {
  const { header, binary } = reply;
  return {
    model_name: header.model_name,
    model_version: header.model_version ?? '',
    // Echoed as sent: empty when the request had none (the HTTP route makes one up instead).
    id,
    outputs: header.outputs.map(({ name, datatype, shape }) => ({ name, datatype, shape })),
    raw_output_contents: binary,
  };
}
