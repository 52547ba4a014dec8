// Two projects so `npm test` runs everything while `--selectProjects unit|e2e` runs one part.
// Type checking is done once by `tsc --noEmit` in `pretest`; with isolatedModules ts-jest only transpiles (fast).
const path = require('node:path');

// The suite runs ONNX Runtime in its own processes too (in-process apps, engine specs): set before
// Jest forks its workers, it keeps those from phoning home like the server (see ort-telemetry.ts).
// Servers the tests start get a fresh environment without it, so the telemetry test still sees
// what the server itself does.
process.env.ORT_DISABLE_TELEMETRY ||= '1';

const transform = {
  '^.+\\.ts$': ['ts-jest', { tsconfig: path.join(__dirname, 'tsconfig.jest.json') }],
};
const common = {
  testEnvironment: 'node',
  moduleFileExtensions: ['js', 'json', 'ts'],
  transform,
};

/** @type {import('jest').Config} */
module.exports = {
  // Every app a test builds starts real inference threads (each compiles the worker's TypeScript
  // with ts-node), which takes seconds on a loaded 2-core machine. A global option: Jest ignores
  // it inside a project (with a warning).
  testTimeout: 30_000,
  projects: [
    { ...common, displayName: 'unit', rootDir: 'src', testRegex: '.*\\.spec\\.ts$' },
    { ...common, displayName: 'e2e', rootDir: 'test', testRegex: '.*\\.e2e-spec\\.ts$' },
  ],
};
