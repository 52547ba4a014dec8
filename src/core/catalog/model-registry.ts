import { Logger } from '@nestjs/common';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { clip } from '../../errors/client-text';
import { ServingError } from '../../errors/serving-error';
import { AppConfig, VersionPolicy } from '../../config/app-config';
import { ConfigDefaults, configDefaults } from '../model-config/effective-config';
import { applyVersionPolicy, ModelLocation } from './model-repository';
import { relativeToRepository } from './repository-paths';
import { ModelHost, ModelState, ServedModel } from './served-model';

/** One tracked version: the model plus what is needed to serve, drain and report it. */
interface VersionEntry {
  model: ServedModel;
  /** Requests running on this version right now; a retired version is disposed at 0. */
  inFlight: number;
  /** Why the load failed; the entry stays (state END) so status can report it. */
  error?: string;
  /** The files its last load saw (loaded or failed): it is loaded again only once they change. */
  fingerprint?: string;
  /** A new fingerprint seen by the last pass; acted on when the next pass sees it unchanged. */
  changing?: string;
  onIdle?: () => void;
  /** Past its drain and being freed: a request that comes now must not run on it. */
  freeing?: boolean;
}

/** What TF Serving's status and V2's ready endpoints report about one version. */
export interface VersionStatus {
  version: number;
  state: ModelState;
  error?: string;
}

const key = (location: { name: string; version: number }) => `${location.name}/${location.version}`;

/**
 * Triton's words for a model a request cannot use (its clients match on them), then the help
 * this server always gave: the models that do serve.
 */
export function unknownModel(name: string, why: string, available: string[]): ServingError {
  return ServingError.notFound(
    `Request for unknown model: '${clip(name)}' ${why}; available models: ${available.join(', ') || 'none'}`,
  );
}

/** Triton's words for a failed load (its clients match on them), naming the version. */
const failedToLoad = (location: { name: string; version: number }, reason: string) =>
  `failed to load '${location.name}' version ${location.version}: ${reason}`;

/**
 * Said with every hot-reload failure: what hot reload tolerates, a restart refuses (by default),
 * and a pod that looks healthy would crash-loop on its next restart without this warning.
 */
export const STRICT_RESTART_FAILS = 'a restart with STRICT_STARTUP=true would fail';

/**
 * What a version folder's files look like, symlinks followed: for every file its size, mtime,
 * ctime (a chmod, or a rewrite that puts mtime back, still moves it), inode (a file replaced by a
 * rename), mode and owner; the errors of those that cannot be read. Stats only: hashing every
 * weight file on every poll would read the whole repository each time, and no write or chmod
 * leaves ctime as it was. Dot-entries are skipped as the scan skips them; a Kubernetes ConfigMap's
 * `..data` swap is seen through the links that point into it.
 */
async function fingerprint(dir: string, depth = 0): Promise<string> {
  const self = await stat(dir).catch((error: NodeJS.ErrnoException) => error.code ?? 'error');
  if (typeof self === 'string') return self;
  const head = `${self.mode}:${self.uid}:${self.gid}`;
  const names = await readdir(dir).catch((error: NodeJS.ErrnoException) => error.code ?? 'error');
  if (typeof names === 'string') return `${head}!${names}`;
  const parts = await Promise.all(
    names
      .filter((name) => !name.startsWith('.'))
      .sort()
      .map(async (name) => {
        const path = join(dir, name);
        const info = await stat(path).catch((error: NodeJS.ErrnoException) => error.code);
        if (typeof info !== 'object') return `${name}!${info}`;
        // TF.js weight manifests may name files in subfolders; deeper than that is not a model.
        if (info.isDirectory())
          return depth < 2 ? `${name}/(${await fingerprint(path, depth + 1)})` : name;
        return `${name}:${info.size}:${info.mtimeMs}:${info.ctimeMs}:${info.ino}:${info.mode}:${info.uid}:${info.gid}`;
      }),
  );
  return `${head}|${parts.join('|')}`;
}

/**
 * A version's files and its model folder's configuration file, which all its versions share:
 * editing config.pbtxt reloads them as editing their weights does. Its content, not its stats:
 * the scan has just read it, and a config is small.
 */
async function filesOf(location: ModelLocation): Promise<string> {
  const files = await fingerprint(location.dir);
  if (!location.config) return files;
  return `${files}|${location.config.file}:${JSON.stringify(location.config.config)}`;
}

/**
 * Whether requests encoded for one copy of a version run unchanged on another. The settings of
 * its configuration are part of it: a request checked against one max_batch_size must not run
 * under another.
 */
const contract = (model: ServedModel) =>
  JSON.stringify([
    model.platform,
    model.signature,
    model.metadata,
    model.batchable,
    model.fixedBatch,
    model.config,
  ]);

/**
 * Every model version the process knows, whatever its state: loading, available, unloading
 * (draining its in-flight requests) or failed. Requests only ever see AVAILABLE versions, and a
 * version is swapped in by becoming AVAILABLE after its load and warm-up, in one step.
 */
export class ModelRegistry {
  private readonly logger = new Logger('ModelRegistry');
  private readonly versions = new Map<string, Map<number, VersionEntry>>();
  /** Models unloaded through the repository API, until they are loaded again. */
  private readonly unloaded = new Set<string>();

  /**
   * @param defaults what auto-complete writes into a model's configuration where it says
   * nothing: the server-wide settings (BATCH_MAX_SIZE, ...).
   */
  constructor(
    private readonly host: ModelHost,
    private readonly defaults: ConfigDefaults = configDefaults(new AppConfig()),
  ) {}

  /** Names of the models with at least one available version. */
  servingNames(): string[] {
    return [...this.versions.keys()].filter((name) => this.serving(name).length > 0).sort();
  }

  /** Available versions of a model, highest first (empty when none or unknown). */
  serving(name: string): ServedModel[] {
    const entries = [...(this.versions.get(name)?.values() ?? [])];
    return entries
      .map((entry) => entry.model)
      .filter((model) => model.state === 'AVAILABLE')
      .sort((a, b) => b.version - a.version);
  }

  /** Every tracked model version, whatever its state. */
  all(): ServedModel[] {
    return [...this.versions.values()].flatMap((versions) =>
      [...versions.values()].map((e) => e.model),
    );
  }

  /** Every tracked version of a model, highest first; undefined for a model never seen. */
  statusOf(name: string): VersionStatus[] | undefined {
    const entries = this.versions.get(name);
    if (!entries) return undefined;
    return [...entries.values()]
      .map(({ model, error }) => ({ version: model.version, state: model.state, error }))
      .sort((a, b) => b.version - a.version);
  }

  /**
   * Loads and warms one version. It is tracked (as LOADING) from the start so status shows it,
   * and it serves as soon as load() marks it AVAILABLE. A failure is kept with its message.
   * Its success is logged at debug by default: the boot logs one line per model (modelSummary).
   */
  async load(location: ModelLocation, level: 'log' | 'debug' = 'debug'): Promise<VersionStatus> {
    const entry: VersionEntry = { model: new ServedModel(location), inFlight: 0 };
    const versions = this.versions.get(location.name) ?? new Map<number, VersionEntry>();
    versions.set(location.version, entry);
    this.versions.set(location.name, versions);
    const { model } = entry;
    model.state = 'LOADING';
    // Taken before the load reads the files, so a write during the load is seen by the next pass.
    entry.fingerprint = await filesOf(location);
    try {
      await model.load(this.host, this.defaults);
      this.logger[level](
        `Loaded ${key(model)} (${model.format}) in ${model.loadTimeMs.toFixed(1)} ms, warmed in ${model.warmupTimeMs.toFixed(1)} ms`,
      );
    } catch (error) {
      model.state = 'END'; // a failed load leaves nothing loaded in any thread
      const message = failedToLoad(location, (error as Error).message);
      // Kept for the status endpoints, which clients read; the caller's log gets the full paths.
      entry.error = relativeToRepository(message, location.dir);
      return { version: model.version, state: model.state, error: message };
    }
    return { version: model.version, state: model.state, error: entry.error };
  }

  /**
   * Brings the tracked versions in line with the repository (one hot-reload pass):
   * loads wanted versions not yet loaded, reloads in place the available ones whose files changed
   * and retries failed ones whose files changed, then retires available versions that were
   * removed from disk or are superseded by an available wanted version. A load that fails
   * therefore leaves what served before serving. The models in `unreadable` (folders the scan
   * could not use) are left exactly as they are: a folder that cannot be read now may hold them.
   */
  async reconcile(
    onDisk: ModelLocation[],
    policy: VersionPolicy,
    unreadable: ReadonlySet<string> = new Set(),
  ): Promise<void> {
    const wanted = applyVersionPolicy(onDisk, policy);
    const retiring: Promise<void>[] = [];
    for (const location of wanted) {
      const entry = this.versions.get(location.name)?.get(location.version);
      if (!entry) {
        await this.loadReporting(location);
        continue;
      }
      if (!entry.error && entry.model.state !== 'AVAILABLE') continue;
      const seen = await this.settledChange(entry, location);
      if (seen === undefined) continue;
      if (entry.error) await this.loadReporting(location);
      else retiring.push(...(await this.reloadInPlace(entry, location, seen)).retiring);
    }
    const present = new Set(onDisk.map(key));
    const wantedKeys = new Set(wanted.map(key));
    for (const [name, versions] of this.versions) {
      if (unreadable.has(name)) continue;
      const replaced = this.serving(name).some((model) => wantedKeys.has(key(model)));
      for (const entry of versions.values()) {
        if (wantedKeys.has(key(entry.model))) continue;
        if (entry.error) this.untrack(entry);
        else if (
          entry.model.state === 'AVAILABLE' &&
          (replaced || !present.has(key(entry.model)))
        ) {
          retiring.push(this.retire(entry, `Unloaded ${key(entry.model)}`));
        }
      }
    }
    await Promise.all(retiring);
  }

  private async loadReporting(location: ModelLocation): Promise<void> {
    const { error } = await this.load(location, 'log');
    if (error) {
      this.logger.warn(
        `${error}; the versions already loaded keep serving; ${STRICT_RESTART_FAILS}`,
      );
    }
  }

  /**
   * The version folder's new fingerprint once it has changed and then held still for one pass,
   * else undefined. Waiting one pass keeps a copy being written in place (same size, half old and
   * half new weights) from being loaded, and served, midway.
   */
  private async settledChange(
    entry: VersionEntry,
    location: ModelLocation,
  ): Promise<string | undefined> {
    const now = await filesOf(location);
    if (now === entry.fingerprint) {
      entry.changing = undefined;
      return undefined;
    }
    if (now !== entry.changing) {
      entry.changing = now;
      return undefined;
    }
    return now;
  }

  /**
   * Loads a fresh copy of a serving version whose files changed beside the copy serving (under
   * its own key in the threads), then swaps it in in one step and drains the old copy: requests
   * already on the old copy finish there, new ones get the new copy, none fails. A copy that
   * fails to load, or whose files changed again during the load, is dropped and the old keeps
   * serving. Returns the old copy's retirement, to be awaited with the pass's others, or why no
   * copy was swapped in. `cause` says what asked for it: its files changed, or a load request.
   */
  private async reloadInPlace(
    entry: VersionEntry,
    location: ModelLocation,
    seen: string,
    cause: 'files' | 'request' = 'files',
  ): Promise<{ retiring: Promise<void>[]; error?: string }> {
    const name = key(location);
    const fresh: VersionEntry = {
      model: new ServedModel(location, entry.model.generation + 1),
      inFlight: 0,
      fingerprint: seen,
    };
    try {
      await fresh.model.load(this.host, this.defaults);
    } catch (error) {
      const reason = (error as Error).message;
      if (cause === 'request') {
        return {
          retiring: [],
          error: relativeToRepository(failedToLoad(location, reason), location.dir),
        };
      }
      entry.fingerprint = seen;
      entry.changing = undefined;
      this.logger.warn(
        `Failed to reload ${name} after its files changed: ${reason}; the copy loaded before keeps serving until they change again; ${STRICT_RESTART_FAILS}`,
      );
      return { retiring: [] };
    }
    const versions = this.versions.get(location.name);
    const moved = (await filesOf(location)) !== seen;
    if (moved || versions?.get(location.version) !== entry || entry.model.state !== 'AVAILABLE') {
      // Written to during the load (the next passes load it again once it holds still), or the
      // version was retired meanwhile: this copy must never serve.
      await this.host.unload(fresh.model.key);
      fresh.model.state = 'END';
      const why = moved
        ? 'its files changed during the load; load it again'
        : 'it was unloaded meanwhile';
      return { retiring: [], error: failedToLoad(location, why) };
    }
    versions.set(location.version, fresh);
    entry.changing = undefined;
    this.logger.log(
      `Reloaded ${name} (${cause === 'files' ? 'its files changed' : 'load request'}) in ${fresh.model.loadTimeMs.toFixed(1)} ms, warmed in ${fresh.model.warmupTimeMs.toFixed(1)} ms`,
    );
    return { retiring: [this.retire(entry, `Unloaded the previous copy of ${name}`)] };
  }

  /**
   * The repository API's load: each wanted version of one model is loaded and warmed in every
   * thread that holds it, or, when it serves already, reloaded in place (its requests move to the
   * new copy, none fails, and if the new copy fails the old keeps serving). Its versions not
   * wanted any more are retired once idle. Resolves to the versions that failed, with why.
   */
  async loadModel(name: string, wanted: ModelLocation[]): Promise<string[]> {
    this.unloaded.delete(name);
    const failures: string[] = [];
    const retiring: Promise<void>[] = [];
    for (const location of wanted) {
      const entry = this.versions.get(name)?.get(location.version);
      if (entry?.model.state === 'AVAILABLE') {
        const seen = await filesOf(location);
        const reloaded = await this.reloadInPlace(entry, location, seen, 'request');
        retiring.push(...reloaded.retiring);
        if (reloaded.error) failures.push(reloaded.error);
        continue;
      }
      const { error } = await this.load(location, 'log');
      if (error) failures.push(relativeToRepository(error, location.dir));
    }
    const kept = new Set(wanted.map(key));
    for (const entry of this.versions.get(name)?.values() ?? []) {
      if (kept.has(key(entry.model))) continue;
      if (entry.model.state === 'AVAILABLE')
        retiring.push(this.retire(entry, `Unloaded ${key(entry.model)}`));
      else if (entry.model.state === 'END') this.untrack(entry);
    }
    await Promise.all(retiring);
    return failures;
  }

  /**
   * The repository API's unload: new requests stop seeing the model at once, the ones queued or
   * running on it finish, then every thread frees it. It stays known (unloaded) until loaded again.
   */
  async unloadModel(name: string): Promise<void> {
    this.unloaded.add(name);
    const entries = [...(this.versions.get(name)?.values() ?? [])];
    await Promise.all(
      entries.map(async (entry) => {
        if (entry.model.state === 'AVAILABLE')
          await this.retire(entry, `Unloaded ${key(entry.model)} (unload request)`);
        else if (entry.model.state === 'END') this.untrack(entry);
      }),
    );
  }

  /** Whether the repository API unloaded this model (and nothing loaded it since). */
  isUnloaded(name: string): boolean {
    return this.unloaded.has(name);
  }

  /**
   * Takes a version out of service: new requests stop seeing it at once, the requests already
   * running on it finish, then its weights are freed.
   */
  private async retire(entry: VersionEntry, done: string): Promise<void> {
    entry.model.state = 'UNLOADING';
    // A request resolved in the step that retires it reaches acquire() a few microtasks later
    // (V2 reads its body first): one turn of the event loop lets it join the drain.
    await new Promise<void>((resolve) => setImmediate(resolve));
    if (entry.inFlight > 0) await new Promise<void>((resolve) => (entry.onIdle = resolve));
    entry.freeing = true;
    await this.host.unload(entry.model.key);
    entry.model.state = 'END';
    this.untrack(entry);
    this.logger.log(done);
  }

  private untrack(entry: VersionEntry): void {
    const versions = this.versions.get(entry.model.name);
    if (versions?.get(entry.model.version) !== entry) return;
    versions.delete(entry.model.version);
    if (versions.size === 0) this.versions.delete(entry.model.name);
  }

  /**
   * The copy a request should run on. A request that resolved a version just before it was
   * reloaded in place (an image request decodes between the two) moves to the new copy when its
   * inputs, encoded for the old one, fit it unchanged; otherwise it stays, and acquire() says
   * to retry.
   */
  current(model: ServedModel): ServedModel {
    const now = this.versions.get(model.name)?.get(model.version)?.model;
    if (!now || now === model || now.state !== 'AVAILABLE') return model;
    return contract(now) === contract(model) ? now : model;
  }

  /**
   * Counts a request on a version until the returned release() is called, so that retiring the
   * version waits for it. Call it in the same synchronous step as resolving the model.
   */
  acquire(model: ServedModel): () => void {
    const entry = this.versions.get(model.name)?.get(model.version);
    if (this.unloaded.has(model.name)) {
      throw unknownModel(model.name, 'has no available versions', this.servingNames());
    }
    if (entry?.model !== model || model.state === 'END' || entry.freeing) {
      throw ServingError.unavailable(
        `Version ${model.version} of model '${model.name}' was unloaded; retry the request`,
      );
    }
    entry.inFlight++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      if (--entry.inFlight === 0) entry.onIdle?.();
    };
  }

  /**
   * Reports a serving copy failed: the inference pool dropped it because replacement threads
   * could not load it again (its folder was deleted, say). It leaves service at once and is
   * listed as failed, as a version whose load failed is; hot reload loads it again once its
   * files change, and forgets it once they are gone. Returns the error as clients read it.
   */
  fail(copyKey: string, error: string): string | undefined {
    const entry = [...this.versions.values()]
      .flatMap((versions) => [...versions.values()])
      .find(({ model }) => model.key === copyKey);
    // A copy being retired is leaving anyway; its retirement frees what is left of it.
    if (entry?.model.state !== 'AVAILABLE') return undefined;
    entry.model.state = 'END';
    entry.error = relativeToRepository(
      failedToLoad(
        entry.model,
        `${entry.model.dir} again in a replacement inference thread: ${error}`,
      ),
      entry.model.dir,
    );
    return entry.error;
  }

  /** Forgets every model at once (shutdown, or a failed boot); the threads are ended by the pool. */
  clear(): void {
    for (const versions of this.versions.values())
      versions.forEach(({ model }) => (model.state = 'END'));
    this.versions.clear();
    this.unloaded.clear();
  }

  /** A 404 naming the model's available versions and why a requested one is not among them. */
  versionNotFound(name: string, version: string | number): ServingError {
    const tracked = this.versions.get(name)?.get(Number(version));
    const why = tracked
      ? ` is not available (${tracked.model.state}${tracked.error ? `: ${tracked.error}` : ''})`
      : ' not found';
    const available = this.serving(name).map((m) => m.version);
    return ServingError.notFound(
      `Version ${clip(version)} of model '${clip(name)}'${why}; loaded versions: ${available.join(', ') || 'none'}`,
    );
  }
}
