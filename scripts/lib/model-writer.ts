import * as tf from '@tensorflow/tfjs';
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { TF_DATA_TYPES } from '../../src/tensor/signature';

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

export interface RepositoryTarget {
  /** The server's model repository (MODEL_DIR), e.g. `models`. */
  repository: string;
  /** Model name: the folder under the repository, and the name clients use. */
  name: string;
  /** Version folder; default: one more than the highest version already there (1 for a new model). */
  version?: number;
  /** Written as metadata.json beside model.json: description, labels, anything shown by GET /models/{name}. */
  metadata?: object;
}

const MODEL_NAME = /^[A-Za-z0-9][\w.-]*$/;

/** One more than the highest numbered version folder of a model (1 when there is none). */
export function nextVersion(modelDir: string): number {
  const versions = existsSync(modelDir)
    ? readdirSync(modelDir)
        .filter((entry) => /^[1-9]\d*$/.test(entry))
        .map(Number)
    : [];
  return Math.max(0, ...versions) + 1;
}

/**
 * Saves a TF.js layers model as `<repository>/<name>/<version>/` (model.json, weight shards and
 * optionally metadata.json), ready for the server: what `model.save('file://...')` would do with
 * tfjs-node, on a default install (pure TF.js, no native code). The files are written into a
 * hidden staging folder and renamed into place in one step, so a server with hot reload
 * (MODEL_POLL_SECONDS) never sees half a model. An existing version is never overwritten.
 * Returns the version folder.
 */
export async function saveToRepository(
  model: tf.LayersModel,
  target: RepositoryTarget,
): Promise<string> {
  const { repository, name, metadata } = target;
  if (!MODEL_NAME.test(name)) {
    throw new Error(
      `model name ${JSON.stringify(name)}: use letters, digits, '_', '-' and '.', not starting with '.'`,
    );
  }
  const modelDir = resolve(repository, name);
  const version = target.version ?? nextVersion(modelDir);
  if (!Number.isSafeInteger(version) || version < 1) {
    throw new Error(`version ${version}: versions are positive integers`);
  }
  const dir = join(modelDir, String(version));
  if (existsSync(dir)) throw new Error(`${dir} already exists; versions are never overwritten`);
  const staging = join(modelDir, `.incoming-${version}-${process.pid}`);
  rmSync(staging, { recursive: true, force: true });
  try {
    await saveLayersModel(model, staging);
    if (metadata) writeMetadata(staging, metadata);
    renameSync(staging, dir);
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
  return dir;
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
