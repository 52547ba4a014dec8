import { Logger } from '@nestjs/common';
import { existsSync } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { VersionPolicy } from '../config/app-config';

/** One loadable model version found in the repository. */
export interface ModelLocation {
  name: string;
  version: number;
  /** Absolute directory holding model.json or model.onnx (and, optionally, metadata.json). */
  dir: string;
}

/** Thrown when the repository itself is unusable: missing, empty, or badly laid out. */
export class RepositoryError extends Error {}

/** The files that make a folder a model version, one per engine (TF.js, ONNX Runtime). */
const MODEL_FILES = ['model.json', 'model.onnx'];
const MODEL_FILE = MODEL_FILES.join(' or ');
const holdsModel = (dir: string) => MODEL_FILES.some((file) => existsSync(join(dir, file)));
/** A version folder's name, and the only spelling of a version a request may use. */
export const VERSION_DIR = /^[1-9]\d*$/;

async function subdirectories(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  return entries
    .filter((entry) => entry.isDirectory() && !entry.name.startsWith('.'))
    .map((entry) => entry.name)
    .sort();
}

const logger = new Logger('ModelRepository');
/**
 * Folders already warned about: hot reload rescans every MODEL_POLL_SECONDS, and one warning per
 * folder says it; one per scan would bury the rest of the log.
 */
const warned = new Set<string>();

/**
 * A folder that is not a version (`mine/old-backup/`) is never served; saying so once spares the
 * user wondering why their model is not there. Dot-folders (`.incoming-3`) are staging, skipped
 * silently, as is a folder that has since gone.
 */
function warnNotVersions(name: string, modelDir: string, entries: string[]): void {
  for (const entry of entries.filter((e) => !VERSION_DIR.test(e))) {
    const path = join(modelDir, entry);
    if (warned.has(path)) continue;
    warned.add(path);
    logger.warn(
      `Ignoring ${path}: not a version folder of model '${name}' (versions are positive integers, e.g. ${join(modelDir, '1')}; folders starting with '.' are skipped silently)`,
    );
  }
}

/** Versions of one model folder: `<name>/<version>/model.json`, or `<name>/model.json` as version 1. */
async function versionsOf(name: string, modelDir: string): Promise<ModelLocation[]> {
  const entries = await subdirectories(modelDir);
  warnNotVersions(name, modelDir, entries);
  const versions = entries.filter((entry) => VERSION_DIR.test(entry));
  const located = versions
    .filter((version) => holdsModel(join(modelDir, version)))
    .map((version) => ({ name, version: Number(version), dir: join(modelDir, version) }));
  if (located.length > 0) return located;
  if (holdsModel(modelDir)) return [{ name, version: 1, dir: modelDir }];
  throw new RepositoryError(
    `Model folder ${modelDir} has no ${MODEL_FILE} and no version folder (<positive integer>/${MODEL_FILE})`,
  );
}

/**
 * Lists the model versions to serve from `<root>/<name>/[<version>/]model.json`.
 * With policy `latest` only the highest version of each model is returned, as in TF Serving.
 */
export async function scanRepository(
  root: string,
  policy: VersionPolicy,
): Promise<ModelLocation[]> {
  const dir = resolve(root);
  const info = await stat(dir).catch(() => undefined);
  if (!info?.isDirectory()) {
    throw new RepositoryError(`MODEL_DIR ${dir} does not exist or is not a directory`);
  }
  const models = await subdirectories(dir);
  if (models.length === 0) {
    throw new RepositoryError(
      `MODEL_DIR ${dir} holds no model; expected <name>/<version>/${MODEL_FILE} folders`,
    );
  }
  const found = await Promise.all(models.map((name) => versionsOf(name, join(dir, name))));
  return applyVersionPolicy(found.flat(), policy);
}

/**
 * The versions a policy serves, sorted by name then version: all of them, or only the highest
 * version of each model (`latest`, as in TF Serving).
 */
export function applyVersionPolicy(
  locations: ModelLocation[],
  policy: VersionPolicy,
): ModelLocation[] {
  const byName = (a: ModelLocation, b: ModelLocation) =>
    a.name < b.name ? -1 : a.name > b.name ? 1 : a.version - b.version;
  const sorted = [...locations].sort(byName);
  if (policy === 'all') return sorted;
  return sorted.filter((location, i) => sorted[i + 1]?.name !== location.name);
}
