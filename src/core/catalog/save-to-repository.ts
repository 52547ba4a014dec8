import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { saveLayersModel, SavableModel } from '../../engines/tfjs/tfjs-writer';
import { VERSION_DIR } from './model-repository';

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

export function writeMetadata(dir: string, metadata: object): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'metadata.json'), JSON.stringify(metadata, null, 2) + '\n');
}

/** One more than the highest numbered version folder of a model (1 when there is none). */
export function nextVersion(modelDir: string): number {
  const versions = existsSync(modelDir)
    ? readdirSync(modelDir)
        .filter((entry) => VERSION_DIR.test(entry))
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
  model: SavableModel,
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
