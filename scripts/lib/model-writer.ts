import * as tf from '@tensorflow/tfjs';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { TF_DATA_TYPES } from '../../src/model/signature';

/**
 * Writes TF.js models to disk in the exact layout TF.js and tensorflowjs_converter use:
 * model.json plus weights split into `group1-shardNofM.bin` files. Without @tensorflow/tfjs-node
 * there is no `file://` handler, so the server's repository format is written here.
 */

const DEFAULT_SHARD_BYTES = 4 * 1024 * 1024; // tensorflowjs_converter's default

function writeShards(dir: string, data: ArrayBuffer, shardBytes: number): string[] {
  const count = Math.max(1, Math.ceil(data.byteLength / shardBytes));
  return Array.from({ length: count }, (_, i) => {
    const name = `group1-shard${i + 1}of${count}.bin`;
    writeFileSync(join(dir, name), Buffer.from(data.slice(i * shardBytes, (i + 1) * shardBytes)));
    return name;
  });
}

function writeModelJson(dir: string, json: object): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'model.json'), JSON.stringify(json));
}

export function writeMetadata(dir: string, metadata: object): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'metadata.json'), JSON.stringify(metadata, null, 2) + '\n');
}

/** Saves a layers model as `model.save('file://dir')` would. */
export async function saveLayersModel(
  model: tf.LayersModel,
  dir: string,
  shardBytes = DEFAULT_SHARD_BYTES,
): Promise<void> {
  await model.save(
    tf.io.withSaveHandler(async (artifacts) => {
      mkdirSync(dir, { recursive: true });
      const data = tf.io.CompositeArrayBuffer.join(artifacts.weightData);
      const paths = writeShards(dir, data, shardBytes);
      writeModelJson(dir, {
        format: 'layers-model',
        generatedBy: artifacts.generatedBy,
        convertedBy: null,
        modelTopology: artifacts.modelTopology,
        weightsManifest: [{ paths, weights: artifacts.weightSpecs }],
      });
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
  );
}

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
  dtype: 'float32' | 'int32' | 'bool';
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
