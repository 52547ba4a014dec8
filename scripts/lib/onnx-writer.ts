import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { onnx } from 'onnx-proto';

/**
 * Writes ONNX files from TypeScript, no Python: the graph, its weights and its signature are
 * built as protobuf messages with onnx-proto (the ONNX schema compiled for protobufjs) and
 * serialised. IR version 8 and opset 13 are what ONNX Runtime 1.x and every current exporter
 * read; nothing here needs a newer operator set.
 */

const IR_VERSION = 8;
const OPSET = 13;

const ELEMENT_TYPES = {
  float32: onnx.TensorProto.DataType.FLOAT,
  float64: onnx.TensorProto.DataType.DOUBLE,
  float16: onnx.TensorProto.DataType.FLOAT16,
  int8: onnx.TensorProto.DataType.INT8,
  int32: onnx.TensorProto.DataType.INT32,
  int64: onnx.TensorProto.DataType.INT64,
  uint8: onnx.TensorProto.DataType.UINT8,
  uint16: onnx.TensorProto.DataType.UINT16,
  bool: onnx.TensorProto.DataType.BOOL,
  string: onnx.TensorProto.DataType.STRING,
};

/** A graph input or output: element type and shape; a string dimension is symbolic (free). */
export interface OnnxValueInfo {
  name: string;
  type: keyof typeof ELEMENT_TYPES;
  shape: (number | string)[];
}

/** A constant the graph holds (weights, biases, shapes). */
export interface OnnxInitializer {
  name: string;
  dims: number[];
  data: Float32Array | BigInt64Array;
}

type AttributeValue = number | number[] | string;

export interface OnnxNode {
  op: string;
  inputs: string[];
  outputs: string[];
  attributes?: Record<string, AttributeValue>;
}

export interface OnnxGraph {
  name: string;
  doc: string;
  inputs: OnnxValueInfo[];
  outputs: OnnxValueInfo[];
  initializers: OnnxInitializer[];
  nodes: OnnxNode[];
}

function valueInfo(value: OnnxValueInfo): onnx.IValueInfoProto {
  return {
    name: value.name,
    type: {
      tensorType: {
        elemType: ELEMENT_TYPES[value.type],
        shape: {
          dim: value.shape.map((d) => (typeof d === 'string' ? { dimParam: d } : { dimValue: d })),
        },
      },
    },
  };
}

/** Integer attributes are INTS/INT, fractional ones FLOAT, text STRING (ONNX types them explicitly). */
function attribute(name: string, value: AttributeValue): onnx.IAttributeProto {
  const { AttributeType } = onnx.AttributeProto;
  if (Array.isArray(value)) return { name, type: AttributeType.INTS, ints: value };
  if (typeof value === 'string') {
    return { name, type: AttributeType.STRING, s: new TextEncoder().encode(value) };
  }
  return Number.isInteger(value)
    ? { name, type: AttributeType.INT, i: value }
    : { name, type: AttributeType.FLOAT, f: value };
}

function initializer(init: OnnxInitializer): onnx.ITensorProto {
  const { data } = init;
  return {
    name: init.name,
    dims: init.dims,
    dataType:
      data instanceof BigInt64Array
        ? onnx.TensorProto.DataType.INT64
        : onnx.TensorProto.DataType.FLOAT,
    // raw_data is little-endian, which is what typed arrays hold on every platform Node runs on.
    rawData: new Uint8Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength)),
  };
}

/** Serialises a graph into the bytes of a `.onnx` file. */
export function encodeOnnxModel(graph: OnnxGraph): Uint8Array {
  const model: onnx.IModelProto = {
    irVersion: IR_VERSION,
    opsetImport: [{ domain: '', version: OPSET }],
    producerName: 'tfjs-model-server scripts/train-onnx.ts',
    producerVersion: '1',
    docString: graph.doc,
    graph: {
      name: graph.name,
      docString: graph.doc,
      input: graph.inputs.map(valueInfo),
      output: graph.outputs.map(valueInfo),
      initializer: graph.initializers.map(initializer),
      node: graph.nodes.map((node, i) => ({
        name: `${node.op}_${i}`,
        opType: node.op,
        input: node.inputs,
        output: node.outputs,
        attribute: Object.entries(node.attributes ?? {}).map(([k, v]) => attribute(k, v)),
      })),
    },
  };
  const error = onnx.ModelProto.verify(model);
  if (error) throw new Error(`invalid ONNX model ${graph.name}: ${error}`);
  return onnx.ModelProto.encode(model).finish();
}

export function writeOnnxModel(file: string, graph: OnnxGraph): void {
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, encodeOnnxModel(graph));
}

// ---- Reading TF.js weights from disk, so both formats carry exactly the same numbers ----

export interface TfjsWeight {
  shape: number[];
  data: Float32Array;
}

interface WeightsManifestEntry {
  paths: string[];
  weights: { name: string; shape: number[]; dtype: string }[];
}

/** The float32 weights of a TF.js model folder (model.json + shards), keyed by weight name. */
export function readTfjsWeights(dir: string): Map<string, TfjsWeight> {
  const json = JSON.parse(readFileSync(join(dir, 'model.json'), 'utf8')) as {
    weightsManifest: WeightsManifestEntry[];
  };
  const weights = new Map<string, TfjsWeight>();
  for (const group of json.weightsManifest) {
    const bytes = Buffer.concat(group.paths.map((p) => readFileSync(join(dir, p))));
    let offset = 0;
    for (const spec of group.weights) {
      if (spec.dtype !== 'float32') throw new Error(`${spec.name}: only float32 weights are read`);
      const count = spec.shape.reduce((a, b) => a * b, 1);
      // Copied out of the Buffer: its pool offset need not be 4-byte aligned.
      const data = new Float32Array(count);
      new Uint8Array(data.buffer).set(bytes.subarray(offset, offset + count * 4));
      weights.set(spec.name, { shape: spec.shape, data });
      offset += count * 4;
    }
  }
  return weights;
}

/** Permutes the axes of a row-major float tensor (e.g. TF's HWIO kernel to ONNX's OIHW). */
export function transpose(weight: TfjsWeight, perm: number[]): TfjsWeight {
  const { shape, data } = weight;
  const outShape = perm.map((p) => shape[p]);
  const strides = shape.map((_, i) => shape.slice(i + 1).reduce((a, b) => a * b, 1));
  const out = new Float32Array(data.length);
  const index = new Array<number>(shape.length).fill(0);
  for (let o = 0; o < out.length; o++) {
    let source = 0;
    for (let d = 0; d < perm.length; d++) source += index[d] * strides[perm[d]];
    out[o] = data[source];
    for (let d = index.length - 1; d >= 0; d--) {
      if (++index[d] < outShape[d]) break;
      index[d] = 0;
    }
  }
  return { shape: outShape, data: out };
}
