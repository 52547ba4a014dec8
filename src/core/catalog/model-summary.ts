import { engineOfPlatform } from '../../engines/registry';
import type { ServedModel } from './served-model';

/** The engine that runs a version, as an operator reads it (TF.js names its backend too). */
function engineOf(model: ServedModel, threadBackend: string): string {
  const engine = engineOfPlatform(model.platform);
  return engine?.label(model.format, model.backend ?? threadBackend) ?? model.platform;
}

const ms = (value: number) => `${value.toFixed(1)} ms`;

/**
 * One line per served model for the boot log: its versions, the engines running them and the time
 * spent loading and warming them (summed over the versions). A repository with many versions per
 * model then still boots in a screenful; each version's own line is logged at debug.
 */
export function modelSummary(models: readonly ServedModel[], threadBackend: string): string[] {
  const byName = new Map<string, ServedModel[]>();
  for (const model of models) {
    if (model.state !== 'AVAILABLE') continue;
    byName.set(model.name, [...(byName.get(model.name) ?? []), model]);
  }
  return [...byName.keys()].sort().map((name) => {
    const versions = byName.get(name)!.sort((a, b) => a.version - b.version);
    const numbers = versions.map((model) => model.version).join(', ');
    const engines = [...new Set(versions.map((model) => engineOf(model, threadBackend)))];
    const load = versions.reduce((sum, model) => sum + model.loadTimeMs, 0);
    const warm = versions.reduce((sum, model) => sum + model.warmupTimeMs, 0);
    const label = versions.length === 1 ? 'version' : 'versions';
    return `Serving ${name} ${label} ${numbers} (${engines.join(', ')}): loaded in ${ms(load)}, warmed in ${ms(warm)}`;
  });
}
