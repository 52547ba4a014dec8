import * as tf from '@tensorflow/tfjs-core';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Writes TF.js models to disk in the exact layout TF.js and tensorflowjs_converter use:
 * model.json plus weights split into `group1-shardNofM.bin` files. Without @tensorflow/tfjs-node
 * there is no `file://` handler, so the layout the loader reads is written here.
 */

export const DEFAULT_SHARD_BYTES = 4 * 1024 * 1024; // tensorflowjs_converter's default

/** What saving needs of a model: any TF.js LayersModel, from this package's TF.js or the caller's. */
export interface SavableModel {
  save(handler: tf.io.IOHandler): Promise<tf.io.SaveResult>;
}

export function writeShards(dir: string, data: ArrayBuffer, shardBytes: number): string[] {
  const count = Math.max(1, Math.ceil(data.byteLength / shardBytes));
  return Array.from({ length: count }, (_, i) => {
    const name = `group1-shard${i + 1}of${count}.bin`;
    writeFileSync(join(dir, name), Buffer.from(data.slice(i * shardBytes, (i + 1) * shardBytes)));
    return name;
  });
}

export function writeModelJson(dir: string, json: object): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'model.json'), JSON.stringify(json));
}

/** Saves a layers model as `model.save('file://dir')` would. */
export async function saveLayersModel(
  model: SavableModel,
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
