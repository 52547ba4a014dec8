import { execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join, posix } from 'node:path';

const ROOT = join(__dirname, '..');

/** The layers of src/, top to bottom, as docs/architecture.md draws them. */
const LAYERS = [
  ['src'],
  ['src/edge'],
  ['src/observability'],
  ['src/core'],
  ['src/image'],
  ['src/engines'],
  ['src/tensor'],
  ['src/errors', 'src/config'],
];
const RULE = 'import/no-restricted-paths';

const entries = (dir: string) => readdirSync(join(ROOT, dir), { withFileTypes: true });
const folders = (dir: string) =>
  entries(dir)
    .filter((e) => e.isDirectory())
    .map((e) => `${dir}/${e.name}`)
    .sort();

/** A real source file of `dir` (the rule only judges imports that resolve). */
function fileIn(dir: string): string {
  const file = entries(dir)
    .filter((e) => e.isFile() && e.name.endsWith('.ts') && !e.name.endsWith('.spec.ts'))
    .map((e) => e.name)
    .sort()[0];
  if (file) return `${dir}/${file}`;
  return fileIn(folders(dir)[0]);
}

/** `import` text for `target` as written in a file of folder `from`. */
const importOf = (from: string, target: string, form = (path: string) => `import '${path}';`) => {
  const path = posix.relative(from, target.replace(/\.ts$/, ''));
  return form(path.startsWith('.') ? path : `./${path}`);
};

interface Probe {
  /** Where the probe is linted as if it were there; it is never written to disk. */
  filePath: string;
  code: string;
}

/**
 * The layer rule's messages for each probe, linted by the project's own ESLint config through
 * ESLint's Node API (in a child process: the flat config is an ES module, which Jest's CommonJS
 * runtime cannot import).
 */
function layerErrors(probes: Probe[]): string[][] {
  const script = `
    import { ESLint } from 'eslint';
    const probes = JSON.parse(process.argv[1]);
    const eslint = new ESLint();
    const found = [];
    for (const { filePath, code } of probes) {
      const [result] = await eslint.lintText(code, { filePath });
      found.push(result.messages.filter((m) => m.ruleId === '${RULE}').map((m) => m.message));
    }
    console.log(JSON.stringify(found));`;
  const out = execFileSync(
    process.execPath,
    ['--input-type=module', '-e', script, JSON.stringify(probes)],
    { cwd: ROOT, encoding: 'utf8' },
  );
  return JSON.parse(out) as string[][];
}

const probe = (filePath: string, code: string): Probe => ({ filePath, code });

/** A file of each layer importing the layer above it (refused), its own and every lower one. */
function layerProbes(): Record<string, Probe> {
  const probes: Record<string, Probe> = {};
  LAYERS.forEach((layer, i) =>
    layer.forEach((folder) => {
      const filePath = `${folder}/layer-probe.ts`;
      if (i > 0) {
        const above = LAYERS[i - 1][0];
        probes[`${folder} -> ${above} (up)`] = probe(filePath, importOf(folder, fileIn(above)));
        probes[`${folder} -> src/main.ts (up)`] = probe(filePath, importOf(folder, 'src/main.ts'));
      }
      for (const lower of LAYERS.slice(i).flat()) {
        probes[`${folder} -> ${lower}`] = probe(filePath, importOf(folder, fileIn(lower)));
      }
    }),
  );
  return probes;
}

/** One upward import (tensor -> edge) in each form the rule must catch. */
function formProbes(): Record<string, Probe> {
  const edge = fileIn('src/edge');
  const code = (form: (path: string) => string) => importOf('src/tensor', edge, form);
  return {
    spec: probe(
      'src/tensor/layer-probe.spec.ts',
      code((p) => `import '${p}';`),
    ),
    type: probe(
      'src/tensor/layer-probe.ts',
      code((p) => `import type { Anything } from '${p}';`),
    ),
    require: probe(
      'src/tensor/layer-probe.ts',
      code((p) => `export const above: unknown = require('${p}');`),
    ),
    export: probe(
      'src/tensor/layer-probe.ts',
      code((p) => `export * from '${p}';`),
    ),
  };
}

/** Each engine folder importing another (refused) and the shared src/engines/*.ts files. */
function engineProbes(): Record<string, Probe> {
  const engines = folders('src/engines');
  const shared = fileIn('src/engines');
  const probes: Record<string, Probe> = {};
  for (const engine of engines) {
    const filePath = `${engine}/layer-probe.ts`;
    probes[`${engine} -> ${shared}`] = probe(filePath, importOf(engine, shared));
    for (const other of engines.filter((e) => e !== engine)) {
      probes[`${engine} -> ${other} (other engine)`] = probe(
        filePath,
        importOf(engine, fileIn(other)),
      );
      probes[`src/engines/*.ts -> ${other}`] = probe(
        'src/engines/layer-probe.ts',
        importOf('src/engines', fileIn(other)),
      );
    }
  }
  return probes;
}

const outsideProbes = (): Record<string, Probe> => ({
  test: probe('test/layer-probe.ts', importOf('test', 'src/main.ts')),
  scripts: probe('scripts/layer-probe.ts', importOf('scripts', 'src/main.ts')),
});

/** Each probe's messages by name, for the probes of `group`. */
const messagesOf = (all: Record<string, string[]>, group: Record<string, Probe>) =>
  Object.fromEntries(Object.keys(group).map((name) => [name, all[name]]));

describe('import layers (eslint.layers.mjs)', () => {
  const groups = {
    layers: layerProbes(),
    forms: formProbes(),
    engines: engineProbes(),
    outside: outsideProbes(),
  };
  let all: Record<string, string[]>;

  // One ESLint run for every probe: loading the config takes seconds.
  beforeAll(() => {
    const probes = Object.assign({}, ...Object.values(groups)) as Record<string, Probe>;
    const names = Object.keys(probes);
    const errors = layerErrors(names.map((name) => probes[name]));
    all = Object.fromEntries(names.map((name, i) => [name, errors[i]]));
  });

  it('should place every folder of src/ in a layer', () => {
    const placed = LAYERS.flat();
    expect(folders('src').filter((folder) => !placed.includes(folder))).toEqual([]);
  });

  it('should refuse an import of any higher layer and accept its own layer and the ones below', () => {
    for (const [name, messages] of Object.entries(messagesOf(all, groups.layers))) {
      expect([name, messages.length]).toEqual([name, name.endsWith('(up)') ? 1 : 0]);
    }
    expect(all['src/tensor -> src/engines (up)'][0]).toMatch(
      /src\/tensor may import only src\/tensor, src\/errors, src\/config/,
    );
  });

  it('should refuse an upward import in a spec file, a type-only import, a require and an export', () => {
    expect(messagesOf(all, groups.forms)).toEqual({
      spec: [expect.any(String)],
      type: [expect.any(String)],
      require: [expect.any(String)],
      export: [expect.any(String)],
    });
  });

  it("should keep each engine's folder out of the others', sharing through src/engines/*.ts", () => {
    expect(folders('src/engines').length).toBeGreaterThan(1);
    for (const [name, messages] of Object.entries(messagesOf(all, groups.engines))) {
      expect([name, messages.length]).toEqual([name, name.endsWith('(other engine)') ? 1 : 0]);
    }
  });

  it('should leave test/ and scripts/ out of the layers', () => {
    expect(messagesOf(all, groups.outside)).toEqual({ test: [], scripts: [] });
  });
});
