// The import layers of src/ (issue 16, "imports run downward only"), checked by
// import/no-restricted-paths. A file may import its own layer and the layers below it, never one
// above. Spec files follow the code they test (they sit in the same folders); test/ and scripts/
// are outside the layers. docs/architecture.md draws them; test/import-layers.e2e-spec.ts holds
// the same order and fails when this rule lets an upward import through or a folder of src/ is
// in no layer.
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import importPlugin from 'eslint-plugin-import';

const ROOT = dirname(fileURLToPath(import.meta.url));

/** Top to bottom. Folders on one line are one layer: they may import each other. */
const LAYERS = [
  // main.ts, index.ts, app.*.ts, cluster.ts, check-models.ts, serving.module.ts: hosts and wiring.
  ['src/*.ts'],
  // Everything that knows a wire protocol: controllers, DTOs, body parsing, admission, error bodies.
  ['src/edge'],
  ['src/observability'],
  // Protocol-neutral serving: the ModelService facade, catalog, lifecycle, inference threads.
  ['src/core'],
  ['src/image'],
  ['src/engines'],
  ['src/tensor'],
  // The shared vocabulary (ServingError) and the validated configuration.
  ['src/errors', 'src/config'],
];

const asGlob = (path) => (path.includes('*') ? path : `${path}/**`);

/** Each layer below the root may not import from any layer above it. */
const upwardZones = LAYERS.slice(1).flatMap((layer, i) => {
  const above = LAYERS.slice(0, i + 1).flat();
  const allowed = LAYERS.slice(i + 1).flat();
  return layer.map((target) => ({
    target,
    from: above.map(asGlob),
    message: `${target} may import only ${allowed.join(', ')}, never a layer above it (docs/architecture.md)`,
  }));
});

/** Engine folders do not import each other; what they share lives in src/engines/*.ts. */
const engines = readdirSync(join(ROOT, 'src/engines'), { withFileTypes: true })
  .filter((entry) => entry.isDirectory())
  .map((entry) => `src/engines/${entry.name}`);
const engineZones = engines.map((target) => ({
  target,
  from: engines.filter((other) => other !== target),
  message: `${target} may not import another engine's folder: share code through src/engines/*.ts`,
}));

export const layersConfig = {
  files: ['src/**/*.ts'],
  plugins: { import: importPlugin },
  settings: { 'import/resolver': { node: { extensions: ['.ts', '.js', '.json'] } } },
  rules: {
    'import/no-restricted-paths': [
      'error',
      { basePath: ROOT, zones: [...upwardZones, ...engineZones.filter((z) => z.from.length)] },
    ],
  },
};
