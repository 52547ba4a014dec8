import { access } from 'node:fs/promises';
import { join } from 'node:path';
import type { Engine } from './engine';

/**
 * Every engine the inference threads can run, in the order a version folder is matched against
 * them: the first whose file (model.json, model.onnx) the folder holds loads it. Engines are
 * constructed lazily so a thread only pays for the runtimes its models need.
 */
export interface EngineEntry {
  file: string;
  create: () => Promise<Engine>;
}

/** The engine whose file a version folder holds; a clear error naming every accepted file otherwise. */
export async function engineFileFor(dir: string, entries: EngineEntry[]): Promise<EngineEntry> {
  for (const entry of entries) {
    const found = await access(join(dir, entry.file)).then(
      () => true,
      () => false,
    );
    if (found) return entry;
  }
  throw new Error(
    `no model file in ${dir}; expected one of ${entries.map((e) => e.file).join(', ')}`,
  );
}
