import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { runServer, RunningServer } from './production/utils/server';
import { removeRepository } from './utils/fixtures';
import { MAIN_JS } from './utils/server-process';

jest.setTimeout(120_000);

const run = promisify(execFile);
const CLONE = join(__dirname, '..');
const PACKAGE = (JSON.parse(readFileSync(join(CLONE, 'package.json'), 'utf8')) as { name: string })
  .name;

/** A training script's own folder, outside the clone: the package and TF.js are all it has. */
function trainingProject(): string {
  const project = mkdtempSync(join(tmpdir(), 'training-script-'));
  mkdirSync(join(project, 'node_modules', '@tensorflow'), { recursive: true });
  symlinkSync(CLONE, join(project, 'node_modules', PACKAGE), 'dir');
  // The user's own TF.js (here the clone's copy, as `npm install @tensorflow/tfjs` would give one).
  symlinkSync(
    join(CLONE, 'node_modules', '@tensorflow', 'tfjs'),
    join(project, 'node_modules', '@tensorflow', 'tfjs'),
    'dir',
  );
  return project;
}

const TRAIN_JS = `
const tf = require('@tensorflow/tfjs');
const { saveToRepository } = require(${JSON.stringify(PACKAGE)});

async function main() {
  await tf.setBackend('cpu');
  const x = tf.input({ name: 'x', shape: [1] });
  const dense = tf.layers.dense({ name: 'y', units: 1 });
  const model = tf.model({ inputs: x, outputs: dense.apply(x) });
  dense.setWeights([tf.tensor2d([[2]]), tf.tensor1d([1])]); // y = 2x + 1
  const dir = await saveToRepository(model, {
    repository: process.argv[2],
    name: 'affine',
    metadata: { description: 'saved by a script outside the clone' },
  });
  console.log(dir);
}
main().catch((error) => { console.error(error); process.exit(1); });
`;

describe(`The package entry (require('${PACKAGE}')) from a training script anywhere (e2e)`, () => {
  let project: string;
  let server: RunningServer | undefined;

  beforeAll(() => {
    // dist/index.js is what `main` names: built by npm run build, like dist/main.js.
    expect(readFileSync(MAIN_JS.replace(/main\.js$/, 'index.js'), 'utf8')).toContain(
      'saveToRepository',
    );
  });
  beforeEach(() => {
    project = trainingProject();
  });
  afterEach(() => {
    server?.stop();
    server = undefined;
    removeRepository(project);
  });

  it('should save a model with saveToRepository that the built server then serves', async () => {
    const repository = join(project, 'models');
    writeFileSync(join(project, 'train.js'), TRAIN_JS);
    const { stdout } = await run(process.execPath, ['train.js', repository], { cwd: project });
    expect(stdout.trim()).toBe(join(repository, 'affine', '1'));

    server = await runServer({ MODEL_DIR: repository });
    const res = await fetch(`${server.url}/predict`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'affine', instances: [[3], [-1]] }),
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ model: 'affine', version: 1, predictions: [[7], [-1]] });
    const info = (await (await fetch(`${server.url}/models/affine`)).json()) as {
      versions: { description: string; inputs: { name: string }[] }[];
    };
    expect(info.versions[0].description).toBe('saved by a script outside the clone');
    expect(info.versions[0].inputs[0].name).toBe('x');
  });

  it('should give TypeScript callers the types: a wrong target does not compile', async () => {
    const tsc = join(CLONE, 'node_modules', 'typescript', 'bin', 'tsc');
    const compile = (source: string) => {
      writeFileSync(join(project, 'save.ts'), source);
      return run(process.execPath, [
        tsc,
        ...['--noEmit', '--strict', '--skipLibCheck', '--types', 'node'],
        ...['--module', 'commonjs', '--moduleResolution', 'node', '--target', 'es2022'],
        join(project, 'save.ts'),
      ]).then(
        () => '',
        (error: { stdout: string }) => error.stdout,
      );
    };
    // @types/node for the d.ts files that mention Node's types, as the user's project would have.
    symlinkSync(
      join(CLONE, 'node_modules', '@types'),
      join(project, 'node_modules', '@types'),
      'dir',
    );
    const header = `import * as tf from '@tensorflow/tfjs';\nimport { saveToRepository, RepositoryTarget } from '${PACKAGE}';\ndeclare const model: tf.LayersModel;\n`;
    expect(
      await compile(
        `${header}const target: RepositoryTarget = { repository: 'models', name: 'm' };\nvoid saveToRepository(model, target).then((dir: string) => dir);\n`,
      ),
    ).toBe('');
    expect(
      await compile(`${header}void saveToRepository(model, { repository: 1, name: 'm' });\n`),
    ).toMatch(/save\.ts\(4,\d+\): error TS2322: Type 'number' is not assignable to type 'string'/);
  });
});
