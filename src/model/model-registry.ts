import { Logger, NotFoundException, ServiceUnavailableException } from '@nestjs/common';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { VersionPolicy } from '../config/app-config';
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
  /** The files the failed load saw: the load is retried only once they change. */
  fingerprint?: string;
  onIdle?: () => void;
}

/** What TF Serving's status and V2's ready endpoints report about one version. */
export interface VersionStatus {
  version: number;
  state: ModelState;
  error?: string;
}

const key = (location: { name: string; version: number }) => `${location.name}/${location.version}`;

/** Names, sizes and mtimes of a version folder's files: changes when a broken version is fixed. */
async function fingerprint(dir: string): Promise<string> {
  const names = await readdir(dir).catch(() => [] as string[]);
  const parts = await Promise.all(
    names.sort().map(async (name) => {
      const info = await stat(join(dir, name)).catch(() => undefined);
      return `${name}:${info?.size}:${info?.mtimeMs}`;
    }),
  );
  return parts.join('|');
}

/**
 * Every model version the process knows, whatever its state: loading, available, unloading
 * (draining its in-flight requests) or failed. Requests only ever see AVAILABLE versions, and a
 * version is swapped in by becoming AVAILABLE after its load and warm-up, in one step.
 */
export class ModelRegistry {
  private readonly logger = new Logger('ModelRegistry');
  private readonly versions = new Map<string, Map<number, VersionEntry>>();

  constructor(private readonly host: ModelHost) {}

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
   */
  async load(location: ModelLocation): Promise<VersionStatus> {
    const entry: VersionEntry = { model: new ServedModel(location), inFlight: 0 };
    const versions = this.versions.get(location.name) ?? new Map<number, VersionEntry>();
    versions.set(location.version, entry);
    this.versions.set(location.name, versions);
    const { model } = entry;
    try {
      await model.load(this.host);
      this.logger.log(
        `Loaded ${key(model)} (${model.format}) in ${model.loadTimeMs.toFixed(1)} ms, warmed in ${model.warmupTimeMs.toFixed(1)} ms`,
      );
    } catch (error) {
      model.state = 'END'; // a failed load leaves nothing loaded in any thread
      const message = `Failed to load ${(error as Error).message}`;
      // Kept for the status endpoints, which clients read; the caller's log gets the full paths.
      entry.error = relativeToRepository(message, location.dir);
      entry.fingerprint = await fingerprint(location.dir);
      return { version: model.version, state: model.state, error: message };
    }
    return { version: model.version, state: model.state, error: entry.error };
  }

  /**
   * Brings the tracked versions in line with the repository (one hot-reload pass):
   * loads wanted versions not yet loaded (or failed ones whose files changed), then retires
   * available versions that were removed from disk or are superseded by an available wanted
   * version. A wanted version that fails to load therefore leaves the old one serving.
   */
  async reconcile(onDisk: ModelLocation[], policy: VersionPolicy): Promise<void> {
    const wanted = applyVersionPolicy(onDisk, policy);
    for (const location of wanted) {
      const entry = this.versions.get(location.name)?.get(location.version);
      if (entry && !entry.error) continue;
      if (entry && entry.fingerprint === (await fingerprint(location.dir))) continue;
      const { error } = await this.load(location);
      if (error) this.logger.warn(`${error}; the versions already loaded keep serving`);
    }
    const present = new Set(onDisk.map(key));
    const wantedKeys = new Set(wanted.map(key));
    const retiring: Promise<void>[] = [];
    for (const [name, versions] of this.versions) {
      const replaced = this.serving(name).some((model) => wantedKeys.has(key(model)));
      for (const entry of versions.values()) {
        if (wantedKeys.has(key(entry.model))) continue;
        if (entry.error) this.untrack(entry);
        else if (
          entry.model.state === 'AVAILABLE' &&
          (replaced || !present.has(key(entry.model)))
        ) {
          retiring.push(this.retire(entry));
        }
      }
    }
    await Promise.all(retiring);
  }

  /**
   * Takes a version out of service: new requests stop seeing it at once, the requests already
   * running on it finish, then its weights are freed.
   */
  private async retire(entry: VersionEntry): Promise<void> {
    entry.model.state = 'UNLOADING';
    if (entry.inFlight > 0) await new Promise<void>((resolve) => (entry.onIdle = resolve));
    await this.host.unload(entry.model.key);
    entry.model.state = 'END';
    this.untrack(entry);
    this.logger.log(`Unloaded ${key(entry.model)}`);
  }

  private untrack(entry: VersionEntry): void {
    const versions = this.versions.get(entry.model.name);
    if (versions?.get(entry.model.version) !== entry) return;
    versions.delete(entry.model.version);
    if (versions.size === 0) this.versions.delete(entry.model.name);
  }

  /**
   * Counts a request on a version until the returned release() is called, so that retiring the
   * version waits for it. Call it in the same synchronous step as resolving the model.
   */
  acquire(model: ServedModel): () => void {
    const entry = this.versions.get(model.name)?.get(model.version);
    if (entry?.model !== model || model.state === 'END') {
      throw new ServiceUnavailableException(
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

  /** Forgets every model at once (shutdown, or a failed boot); the threads are ended by the pool. */
  clear(): void {
    for (const versions of this.versions.values())
      versions.forEach(({ model }) => (model.state = 'END'));
    this.versions.clear();
  }

  /** A 404 naming the model's available versions and why a requested one is not among them. */
  versionNotFound(name: string, version: string | number): NotFoundException {
    const tracked = this.versions.get(name)?.get(Number(version));
    const why = tracked
      ? ` is not available (${tracked.model.state}${tracked.error ? `: ${tracked.error}` : ''})`
      : ' not found';
    const available = this.serving(name).map((m) => m.version);
    return new NotFoundException(
      `Version ${version} of model '${name}'${why}; loaded versions: ${available.join(', ') || 'none'}`,
    );
  }
}
