import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import * as ts from 'typescript';

const ROOT = join(__dirname, '..', '..', '..');
const WORKER = join(ROOT, 'src', 'core', 'inference', 'inference.worker.ts');

/**
 * What each file requires at run time, as the thread loads it (ts-node transpiles the same
 * way): an import used only for types is erased, a dynamic import() is a require.
 */
function requiresOf(file: string): string[] {
  const { outputText } = ts.transpileModule(readFileSync(file, 'utf8'), {
    compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022 },
  });
  return [...outputText.matchAll(/require\((["'])([^"']+)\1\)/g)].map((m) => m[2]);
}

function resolveLocal(from: string, specifier: string): string {
  const base = resolve(dirname(from), specifier);
  const found = [`${base}.ts`, join(base, 'index.ts'), base].find(
    (candidate) => existsSync(candidate) && statSync(candidate).isFile(),
  );
  if (!found) throw new Error(`${relative(ROOT, from)}: cannot resolve '${specifier}'`);
  return found;
}

/** Every project file reachable from `entry`, with the packages each one requires. */
function importGraph(entry: string): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  const pending = [entry];
  while (pending.length > 0) {
    const file = pending.pop()!;
    if (graph.has(relative(ROOT, file))) continue;
    const specifiers = requiresOf(file);
    graph.set(
      relative(ROOT, file),
      specifiers.filter((s) => !s.startsWith('.')),
    );
    pending.push(...specifiers.filter((s) => s.startsWith('.')).map((s) => resolveLocal(file, s)));
  }
  return graph;
}

const importersOfNest = (graph: Map<string, string[]>) =>
  [...graph]
    .filter(([, packages]) => packages.some((p) => p.startsWith('@nestjs/')))
    .map(([f]) => f);

describe('What an inference thread loads', () => {
  const graph = importGraph(WORKER);

  it('should reach the engines, the core it needs and the errors (the walk follows every import)', () => {
    expect([...graph.keys()]).toEqual(
      expect.arrayContaining([
        'src/core/inference/run-failure.ts',
        'src/engines/tfjs/tfjs.engine.ts',
        // imported on first use, with import()
        'src/engines/onnx/onnx.engine.ts',
        'src/errors/serving-error.ts',
      ]),
    );
  });

  it('should find an @nestjs import where there is one', () => {
    const registry = join(ROOT, 'src', 'core', 'catalog', 'model-registry.ts');
    expect(importersOfNest(importGraph(registry))).toContain('src/core/catalog/model-registry.ts');
  });

  it('should import nothing from @nestjs', () => {
    expect(importersOfNest(graph)).toEqual([]);
  });
});
