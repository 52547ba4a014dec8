import { access } from 'node:fs/promises';
import { join } from 'node:path';
import type { AppConfig } from '../config/app-config';
import type { EngineDescriptor } from './engine';
import { onnxEngine } from './onnx/onnx.descriptor';
import { tfjsEngine } from './tfjs/tfjs.descriptor';

/**
 * Every engine the server runs, one line each, in the order a version folder is matched against
 * their files: the first whose file the folder holds serves it. Everything else that names
 * engines (the repository scan, the threads, the catalog's formats and platforms, metrics) is
 * derived from this list; the functions below take the list so a test can hand them another.
 */
export const ENGINES: readonly EngineDescriptor[] = [tfjsEngine, onnxEngine];

/** The files that make a folder a model version, one per engine. */
export const modelFiles = (engines = ENGINES): string[] => engines.map((engine) => engine.file);

/** Every V2 `platform` a served model may report. */
export const platformNames = (engines = ENGINES): string[] =>
  engines.flatMap((engine) => Object.keys(engine.platforms));

/** Every `format` GET /models may report, one per platform. */
export const modelFormats = (engines = ENGINES): string[] =>
  engines.flatMap((engine) => Object.values(engine.platforms));

/** The engine that reports `platform` for its models. */
export const engineOfPlatform = (
  platform: string,
  engines = ENGINES,
): EngineDescriptor | undefined => engines.find((engine) => platform in engine.platforms);

/** The `format` GET /models reports for a model of this platform. */
export const formatOfPlatform = (platform: string, engines = ENGINES): string | undefined =>
  engineOfPlatform(platform, engines)?.platforms[platform];

/** Each engine's settings from the configuration, by engine id: what every thread is given. */
export const engineOptions = (config: AppConfig, engines = ENGINES): Record<string, unknown> =>
  Object.fromEntries(engines.map((engine) => [engine.id, engine.options(config)]));

/** The engine whose file a version folder holds; a clear error naming every accepted file otherwise. */
export async function engineClaiming(dir: string, engines = ENGINES): Promise<EngineDescriptor> {
  for (const engine of engines) {
    const found = await access(join(dir, engine.file)).then(
      () => true,
      () => false,
    );
    if (found) return engine;
  }
  throw new Error(`no model file in ${dir}; expected one of ${modelFiles(engines).join(', ')}`);
}
