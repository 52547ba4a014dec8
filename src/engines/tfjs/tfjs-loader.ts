import * as tf from '@tensorflow/tfjs-core';
import { loadGraphModel, GraphModel } from '@tensorflow/tfjs-converter';
import { loadLayersModel, LayersModel } from '@tensorflow/tfjs-layers';
import { readFile } from 'node:fs/promises';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { bytesPerElement } from '../../tensor/dtypes';

export type ModelFormat = 'layers-model' | 'graph-model';
export type TfjsModel = LayersModel | GraphModel;

export interface LoadedTfjsModel {
  format: ModelFormat;
  model: TfjsModel;
  /** model.json's `modelTopology`, for names that must not depend on TF.js's global counters. */
  modelTopology: unknown;
}

/** Bytes a weight occupies on disk, or undefined when it cannot be known up front (strings). */
function storedBytes(spec: tf.io.WeightsManifestEntry): number | undefined {
  const dtype = spec.quantization?.dtype ?? spec.dtype;
  const size = bytesPerElement(dtype);
  return size === undefined ? undefined : spec.shape.reduce((a, b) => a * b, 1) * size;
}

function insideDir(dir: string, file: string): string {
  const path = resolve(dir, file);
  const rel = relative(dir, path);
  if (rel.startsWith('..') || rel.startsWith(sep)) {
    throw new Error(`weight path ${file} points outside the model folder`);
  }
  return path;
}

/** Reads every shard of the weights manifest and checks their total size against the manifest. */
async function readWeights(
  dir: string,
  manifest: tf.io.WeightsManifestConfig,
): Promise<[tf.io.WeightsManifestEntry[], ArrayBuffer]> {
  const specs = manifest.flatMap((group) => group.weights);
  const paths = manifest.flatMap((group) => group.paths);
  // Named as model.json names them: the caller's message already says which folder.
  const shards = await Promise.all(
    paths.map((path) =>
      readFile(insideDir(dir, path)).catch((error: NodeJS.ErrnoException) => {
        throw new Error(
          error.code === 'ENOENT'
            ? `missing weight shard ${path}`
            : `cannot read weight shard ${path}: ${error.code ?? error.message}`,
        );
      }),
    ),
  );
  const actual = shards.reduce((total, shard) => total + shard.byteLength, 0);
  const sizes = specs.map(storedBytes);
  if (sizes.every((size) => size !== undefined)) {
    const expected = sizes.reduce((a, b) => a! + b!, 0);
    if (expected !== actual) {
      throw new Error(
        `weight shards hold ${actual} bytes but the manifest describes ${expected} (truncated or wrong shard?)`,
      );
    }
  }
  const joined = Buffer.concat(shards);
  return [specs, joined.buffer.slice(joined.byteOffset, joined.byteOffset + joined.byteLength)];
}

/** A TF.js IOHandler over the local file system, so no network fetch and no tfjs-node are needed. */
export function fileSystemHandler(modelJsonPath: string): tf.io.IOHandler {
  const dir = dirname(modelJsonPath);
  return {
    load: async () => {
      const text = await readFile(modelJsonPath, 'utf8');
      let json: tf.io.ModelJSON;
      try {
        json = JSON.parse(text) as tf.io.ModelJSON;
      } catch (error) {
        throw new Error(`model.json is not valid JSON: ${(error as Error).message}`);
      }
      if (typeof json !== 'object' || json === null || typeof json.modelTopology !== 'object') {
        throw new Error('model.json has no modelTopology: not a TF.js model');
      }
      return tf.io.getModelArtifactsForJSON(json, (manifest) => readWeights(dir, manifest));
    },
  };
}

/** Layers models (Keras topology) and graph models (GraphDef) are told apart by their topology. */
export function detectFormat(artifacts: tf.io.ModelArtifacts): ModelFormat {
  if (artifacts.format === 'layers-model' || artifacts.format === 'graph-model') {
    return artifacts.format;
  }
  const topology = artifacts.modelTopology as Record<string, unknown> | undefined;
  if (topology && 'node' in topology) return 'graph-model';
  if (topology && ('class_name' in topology || 'model_config' in topology)) return 'layers-model';
  throw new Error('model.json is neither a layers model nor a graph model');
}

/** Reads model.json and its weights from disk and builds the TF.js model. Only called at load time. */
export async function loadTfjsModel(dir: string): Promise<LoadedTfjsModel> {
  const artifacts = await fileSystemHandler(join(dir, 'model.json')).load!();
  const format = detectFormat(artifacts);
  // The artifacts are already in memory; hand them over without reading anything twice.
  const memory: tf.io.IOHandler = { load: async () => artifacts };
  const model =
    format === 'layers-model' ? await loadLayersModel(memory) : await loadGraphModel(memory);
  return { format, model, modelTopology: artifacts.modelTopology };
}
