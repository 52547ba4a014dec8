import * as tf from '@tensorflow/tfjs';
import { mkdirSync } from 'node:fs';
import { TF_DATA_TYPES } from '../../src/tensor/dtypes';
import {
  DEFAULT_SHARD_BYTES,
  writeModelJson,
  writeShards,
} from '../../src/engines/tfjs/tfjs-writer';

// Layers models and the repository layout are written by the server's own code (the package
// entry exports saveToRepository); graph models, which only tests and training write, are here.
export { saveLayersModel } from '../../src/engines/tfjs/tfjs-writer';
export {
  nextVersion,
  type RepositoryTarget,
  saveToRepository,
  writeMetadata,
} from '../../src/core/catalog/save-to-repository';

// ---- Graph models: a GraphDef in JSON, as tensorflowjs_converter writes it ----

export interface GraphNode {
  name: string;
  op: string;
  input?: string[];
  attr?: Record<string, unknown>;
}

export interface GraphWeight {
  name: string;
  tensor: tf.Tensor;
}

export interface GraphSignatureEntry {
  /** Node name in the graph, e.g. `x` (written as `x:0`). */
  node: string;
  dtype: 'float32' | 'int32' | 'bool' | 'string';
  shape: number[];
}

const tensorShape = (shape: number[]) => ({ dim: shape.map((size) => ({ size: String(size) })) });
const signatureEntry = (entry: GraphSignatureEntry) => ({
  name: `${entry.node}:0`,
  dtype: TF_DATA_TYPES[entry.dtype],
  tensorShape: tensorShape(entry.shape),
});

export const graphOps = {
  placeholder: (name: string, dtype: GraphSignatureEntry['dtype'], shape: number[]): GraphNode => ({
    name,
    op: 'Placeholder',
    attr: { dtype: { type: TF_DATA_TYPES[dtype] }, shape: { shape: tensorShape(shape) } },
  }),
  /** A constant whose value lives in the weights files, as the converter writes variables. */
  weight: (weight: GraphWeight): GraphNode => ({
    name: weight.name,
    op: 'Const',
    attr: {
      dtype: { type: TF_DATA_TYPES[weight.tensor.dtype] },
      value: {
        tensor: {
          dtype: TF_DATA_TYPES[weight.tensor.dtype],
          tensorShape: tensorShape(weight.tensor.shape),
        },
      },
    },
  }),
  op: (
    name: string,
    op: string,
    input: string[],
    attr: Record<string, unknown> = {},
  ): GraphNode => ({
    name,
    op,
    input,
    attr: { T: { type: 'DT_FLOAT' }, ...attr },
  }),
};

/** Writes a graph model with a `serving_default`-style signature and sharded weights. */
export async function saveGraphModel(
  dir: string,
  graph: {
    nodes: GraphNode[];
    weights: GraphWeight[];
    inputs: Record<string, GraphSignatureEntry>;
    outputs: Record<string, GraphSignatureEntry>;
  },
  shardBytes = DEFAULT_SHARD_BYTES,
): Promise<void> {
  mkdirSync(dir, { recursive: true });
  const encoded = await tf.io.encodeWeights(
    Object.fromEntries(graph.weights.map((w) => [w.name, w.tensor])),
  );
  const paths = writeShards(dir, tf.io.CompositeArrayBuffer.join(encoded.data), shardBytes);
  const mapEntries = (entries: Record<string, GraphSignatureEntry>) =>
    Object.fromEntries(Object.entries(entries).map(([key, e]) => [key, signatureEntry(e)]));
  writeModelJson(dir, {
    format: 'graph-model',
    generatedBy: '2.15.0',
    convertedBy: 'TensorFlow.js Converter v4.22.0',
    signature: { inputs: mapEntries(graph.inputs), outputs: mapEntries(graph.outputs) },
    modelTopology: { node: graph.nodes, library: {}, versions: { producer: 1645 } },
    weightsManifest: [{ paths, weights: encoded.specs }],
  });
}
