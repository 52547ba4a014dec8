import { Logger } from '@nestjs/common';
import { resolve } from 'node:path';
import { AppConfig } from './config/app-config';
import { ModelCatalog } from './core/catalog/model-catalog';
import { ModelRegistry } from './core/catalog/model-registry';
import { configDefaults } from './core/model-config/effective-config';
import { createInferencePool } from './core/inference/inference.service';
import { ModelLifecycle, RepositoryReport } from './core/lifecycle/model-lifecycle';
import { bootLogger, PinoBootLogger } from './observability/boot-logger';

/**
 * `--check [dir]` on the command line: the directory to check (MODEL_DIR when none follows the
 * flag), or undefined when the process is to serve.
 */
export function checkArgument(argv: string[]): { dir?: string } | undefined {
  const at = argv.indexOf('--check');
  if (at < 0) return undefined;
  const next = argv[at + 1];
  return { dir: next !== undefined && !next.startsWith('-') ? next : undefined };
}

const ms = (value: number) => value.toFixed(1);

/** One row per version (and per unusable model folder), OK first, then the failures with their reasons. */
export function formatReport(
  dir: string,
  config: AppConfig,
  report: RepositoryReport,
  defaultModelProblem?: string,
): string {
  const failures = [...report.problems, ...report.failed].sort(
    (a, b) => a.name.localeCompare(b.name) || (a.version ?? 0) - (b.version ?? 0),
  );
  const rows = [
    { cells: ['STATUS', 'MODEL', 'VERSION', 'FORMAT', 'LOAD ms', 'WARM-UP ms'], reason: 'REASON' },
    ...report.loaded.map((model) => ({
      cells: [
        'OK',
        model.name,
        String(model.version),
        model.format,
        ms(model.loadTimeMs),
        ms(model.warmupTimeMs),
      ],
      reason: '',
    })),
    ...failures.map((failure) => ({
      cells: ['FAILED', failure.name, String(failure.version ?? '-'), '-', '-', '-'],
      reason: failure.error,
    })),
  ];
  const widths = rows[0].cells.map((_, column) =>
    Math.max(...rows.map((row) => row.cells[column].length)),
  );
  const lines = rows.map(({ cells, reason }) =>
    [...cells.map((cell, column) => cell.padEnd(widths[column])), reason].join('  ').trimEnd(),
  );
  const failed = failures.length + (defaultModelProblem ? 1 : 0);
  return [
    `Model repository ${dir} (MODEL_VERSION_POLICY=${config.MODEL_VERSION_POLICY}, ${config.INFERENCE_THREADS} inference thread(s))`,
    ...lines,
    ...(defaultModelProblem ? [`FAILED  ${defaultModelProblem}`] : []),
    failed === 0
      ? `All ${report.loaded.length} model version(s) load and warm up: a restart would serve them all.`
      : `${failed} failure(s), ${report.loaded.length} OK: a restart with STRICT_STARTUP=true would fail.`,
    '',
  ].join('\n');
}

/**
 * Loads and warms every version a start would serve, with the server's own lifecycle (same
 * scan, engines, threads and warm-up), prints a table, frees everything and returns the exit
 * code: 0 when all load, 1 otherwise. It opens no port: nothing but the model core is built.
 */
export async function runCheck(config: AppConfig): Promise<number> {
  // Warnings only by default: the table is the output; LOG_LEVEL=info adds the load lines.
  Logger.overrideLogger(new PinoBootLogger(bootLogger(process.env.LOG_LEVEL ?? 'warn')));
  const dir = resolve(config.MODEL_DIR);
  const pool = createInferencePool(config);
  const registry = new ModelRegistry(pool, configDefaults(config));
  const catalog = new ModelCatalog(config, registry);
  const lifecycle = new ModelLifecycle(config, pool, registry, catalog);
  try {
    const report = await lifecycle.loadRepository(false);
    const defaultModel = catalog.defaultModelProblem();
    process.stdout.write(formatReport(dir, config, report, defaultModel));
    const ok = report.failed.length + report.problems.length === 0 && defaultModel === undefined;
    return ok ? 0 : 1;
  } catch (error) {
    // The repository itself (missing, unreadable, empty) or the inference threads.
    process.stdout.write(`Model repository ${dir}\nFAILED  ${(error as Error).message}\n`);
    return 1;
  } finally {
    await lifecycle.shutdown();
  }
}
