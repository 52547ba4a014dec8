import { Logger } from '@nestjs/common';
import { lstat, readdir, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { VersionPolicy } from '../../config/app-config';
import type { EngineDescriptor } from '../../engines/engine';
import { ENGINES, modelFiles } from '../../engines/registry';
import { ModelConfigFile, readModelConfig } from '../model-config/read-model-config';
import { ModelConfigError, versionPolicyOfConfig } from '../model-config/effective-config';
import { versionsToServe, VersionSelection } from './version-policy';

/** One loadable model version found in the repository. */
export interface ModelLocation {
  name: string;
  version: number;
  /** Absolute directory holding an engine's model file, e.g. model.json (and maybe metadata.json). */
  dir: string;
  /** The model folder's config.pbtxt or config.json, shared by all its versions. */
  config?: ModelConfigFile;
}

/** Thrown when the repository itself is unusable: missing, empty, or badly laid out. */
export class RepositoryError extends Error {}

/** A model folder the scan could not use (empty, unreadable, a broken symlink): only that model fails. */
export interface FolderProblem {
  name: string;
  message: string;
}

/** What one scan found: the versions on disk, and the model folders it could not read. */
export interface RepositoryScan {
  locations: ModelLocation[];
  problems: FolderProblem[];
}

/** "model.json or model.onnx": what a version folder must hold, as messages say it. */
function fileNames(engines: readonly EngineDescriptor[]): string {
  const files = modelFiles(engines);
  return files.length > 1 ? `${files.slice(0, -1).join(', ')} or ${files.at(-1)}` : files.join('');
}
/** A version folder's name, and the only spelling of a version a request may use. */
export const VERSION_DIR = /^[1-9]\d*$/;

/**
 * Never models nor versions: dot-folders are staging (`.incoming-3`) or Kubernetes' `..data`,
 * and ext4 puts an empty `lost+found` at the root of every volume.
 */
const isSkipped = (name: string) => name.startsWith('.') || name === 'lost+found';

const reason = (error: unknown) => (error as Error).message;

/** A folder found in a directory, or a symlink there that could not be followed (and why). */
interface Folder {
  name: string;
  error?: string;
}

/**
 * The folders in `dir`, symlinks to folders included (Kubernetes mounts ConfigMaps and volumes
 * as symlinks, which readdir reports as links, not folders). Plain files are ignored; a symlink
 * that cannot be followed is returned with its error, for its caller to blame the right model.
 */
async function subdirectories(dir: string): Promise<Folder[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  const kept = await Promise.all(
    entries
      .filter((entry) => !isSkipped(entry.name))
      .map(async (entry): Promise<Folder | undefined> => {
        const { name } = entry;
        if (entry.isDirectory()) return { name };
        if (!entry.isSymbolicLink()) return undefined;
        const path = join(dir, name);
        return stat(path).then(
          (target) => (target.isDirectory() ? { name } : undefined),
          (error: unknown) => ({
            name,
            error: `cannot follow the symlink ${path}: ${reason(error)}`,
          }),
        );
      }),
  );
  return kept
    .filter((folder) => folder !== undefined)
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/**
 * Whether a version folder holds a model file. A model file that exists but cannot be read
 * (a dangling symlink, an I/O error) is an error, not "no model": the folder is broken, not empty.
 */
async function holdsModel(dir: string, engines: readonly EngineDescriptor[]): Promise<boolean> {
  for (const file of modelFiles(engines)) {
    const path = join(dir, file);
    const found = await stat(path).then(
      () => true,
      async (error: NodeJS.ErrnoException) => {
        const dangling = error.code === 'ENOENT' && (await lstat(path).catch(() => undefined));
        if (dangling) throw new Error(`${path} is a symlink to a missing file`);
        if (error.code === 'ENOENT' || error.code === 'ENOTDIR') return false;
        throw new Error(`cannot read ${path}: ${reason(error)}`);
      },
    );
    if (found) return true;
  }
  return false;
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
async function versionsOf(
  name: string,
  modelDir: string,
  engines: readonly EngineDescriptor[],
): Promise<ModelLocation[]> {
  const folders = await subdirectories(modelDir).catch((error: unknown) => {
    throw new Error(`cannot read model folder ${modelDir}: ${reason(error)}`);
  });
  const broken = folders.find((folder) => folder.error !== undefined);
  if (broken) throw new Error(broken.error);
  const entries = folders.map((folder) => folder.name);
  warnNotVersions(name, modelDir, entries);
  const config = await readModelConfig(modelDir);
  const withConfig = (location: ModelLocation) => (config ? { ...location, config } : location);
  const located: ModelLocation[] = [];
  for (const version of entries.filter((entry) => VERSION_DIR.test(entry))) {
    const dir = join(modelDir, version);
    if (await holdsModel(dir, engines))
      located.push(withConfig({ name, version: Number(version), dir }));
  }
  if (located.length > 0) return located;
  if (await holdsModel(modelDir, engines)) return [withConfig({ name, version: 1, dir: modelDir })];
  const files = fileNames(engines);
  throw new Error(
    `Model folder ${modelDir} has no ${files} and no version folder (<positive integer>/${files})`,
  );
}

/**
 * Scans `<root>/<name>/[<version>/]model.json` (or another engine's file), each model folder on
 * its own: a folder that is empty or unreadable is reported in `problems` and the other models
 * are still found. Throws only when MODEL_DIR itself is missing, unreadable or holds no model
 * folder at all.
 */
export async function scanModels(root: string, engines = ENGINES): Promise<RepositoryScan> {
  const dir = resolve(root);
  const info = await stat(dir).catch(() => undefined);
  if (!info?.isDirectory()) {
    throw new RepositoryError(`MODEL_DIR ${dir} does not exist or is not a directory`);
  }
  const models = await subdirectories(dir).catch((error: unknown) => {
    throw new RepositoryError(`MODEL_DIR ${dir} cannot be read: ${reason(error)}`);
  });
  if (models.length === 0) {
    throw new RepositoryError(
      `MODEL_DIR ${dir} holds no model; expected <name>/<version>/${fileNames(engines)} folders`,
    );
  }
  const scan: RepositoryScan = { locations: [], problems: [] };
  for (const { name, error } of models) {
    if (error !== undefined) {
      scan.problems.push({ name, message: error });
      continue;
    }
    try {
      scan.locations.push(...(await versionsOf(name, join(dir, name), engines)));
    } catch (error) {
      scan.problems.push({ name, message: reason(error) });
    }
  }
  return scan;
}

/**
 * Lists the model versions to serve at boot, where any folder that holds no usable model is
 * fatal (as a model that fails to load is): the process must not start without a model its
 * operator put there. With policy `latest` only the highest version of each model is returned.
 */
export async function scanRepository(
  root: string,
  policy: VersionPolicy,
): Promise<ModelLocation[]> {
  return applyVersionPolicy(await scanEveryFolder(root), policy);
}

/** Every version on disk, throwing when any model folder holds no usable model (a strict boot). */
export async function scanEveryFolder(root: string): Promise<ModelLocation[]> {
  const { locations, problems } = await scanModels(root);
  if (problems.length > 0) throw unusableFolders(problems);
  return locations;
}

/** The error a strict boot fails with when model folders hold no usable model. */
export function unusableFolders(problems: FolderProblem[]): RepositoryError {
  const messages = problems.map((problem) => problem.message);
  return new RepositoryError(
    messages.length === 1
      ? messages[0]
      : `${messages.length} model folders hold no usable model:\n  ${messages.join('\n  ')}`,
  );
}

/**
 * The versions each model's policy serves, sorted by name then version: its configuration's
 * version_policy (Triton's latest N, all or specific), else MODEL_VERSION_POLICY (`latest`: the
 * highest version, as in TF Serving; or `all`). Versions a `specific` policy lists that are not
 * on disk, and policies that are not valid, are returned as problems; such a model serves
 * nothing from this selection.
 */
export function selectVersions(
  locations: ModelLocation[],
  policy: VersionPolicy,
): VersionSelection {
  const byName = new Map<string, ModelLocation[]>();
  for (const location of locations) {
    byName.set(location.name, [...(byName.get(location.name) ?? []), location]);
  }
  const selection: VersionSelection = { wanted: [], problems: [] };
  for (const name of [...byName.keys()].sort()) {
    const versions = byName.get(name)!;
    const configured = versions.find((location) => location.config)?.config;
    try {
      const { serve, missing } = versionsToServe(
        versions.map((location) => location.version),
        versionPolicyOfConfig(configured, policy),
      );
      selection.wanted.push(
        ...serve.map((version) => versions.find((location) => location.version === version)!),
      );
      for (const version of missing) {
        selection.problems.push({
          name,
          version,
          error: `${configured!.file}: version_policy.specific lists version ${version} of model '${name}', which is not on disk (versions found: ${versions.map((l) => l.version).join(', ')})`,
        });
      }
    } catch (error) {
      const message =
        error instanceof ModelConfigError ? reason(error) : `${configured?.file}: ${reason(error)}`;
      selection.problems.push({
        name,
        error: `${message}; no version of model '${name}' is served`,
      });
    }
  }
  return selection;
}

/** The versions to serve (selectVersions without the problems). */
export function applyVersionPolicy(
  locations: ModelLocation[],
  policy: VersionPolicy,
): ModelLocation[] {
  return selectVersions(locations, policy).wanted;
}
