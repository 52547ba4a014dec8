import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { runServer, RunningServer } from './production/utils/server';
import { removeRepository } from './utils/fixtures';
import { MAIN_JS } from './utils/server-process';
import { SHIPPED_MODELS } from './utils/test-app';

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

/** The Nest packages a host app has, the clone's copies (one @nestjs/core: one DI container). */
function hostProject(project: string): void {
  symlinkSync(
    join(CLONE, 'node_modules', '@nestjs'),
    join(project, 'node_modules', '@nestjs'),
    'dir',
  );
  symlinkSync(
    join(CLONE, 'node_modules', '@types'),
    join(project, 'node_modules', '@types'),
    'dir',
  );
  cpSync(join(SHIPPED_MODELS, 'iris', '2'), join(project, 'models', 'iris', '2'), {
    recursive: true,
  });
}

/** A host app in plain JavaScript: the module imported, a prediction through ModelService, app.close(). */
const HOST_JS = `
const { Module } = require('@nestjs/common');
const { NestFactory } = require('@nestjs/core');
const { ModelService, ModelServingModule } = require(${JSON.stringify(PACKAGE)});

class HostModule {}
Module({ imports: [ModelServingModule.forRoot({ modelDir: 'models', inferenceThreads: 2 })] })(HostModule);

async function main() {
  const app = await NestFactory.create(HostModule, { logger: ['error'] });
  await app.init();
  const answer = await app.get(ModelService).predict('iris', [[5.1, 3.5, 1.4, 0.2]]);
  console.log(JSON.stringify(answer));
  await app.close();
  console.log('closed');
}
main().catch((error) => { console.error(error); process.exitCode = 1; });
`;

describe('The package entry in a host Nest app (e2e)', () => {
  let project: string;
  beforeEach(() => {
    project = trainingProject();
    hostProject(project);
  });
  afterEach(() => removeRepository(project));

  it('should end the inference threads on app.close(), so the host process exits by itself', async () => {
    writeFileSync(join(project, 'host.js'), HOST_JS);
    // Nothing here calls process.exit: a thread or timer left behind would keep the process up
    // until execFile's timeout kills it, and the run would reject.
    const { stdout } = await run(process.execPath, ['host.js'], { cwd: project, timeout: 100_000 });
    const [answer, closed] = stdout.trim().split('\n');
    expect(JSON.parse(answer)).toMatchObject({
      model: 'iris',
      version: 2,
      predictions: [{ label: 'setosa' }],
    });
    expect(closed).toBe('closed');
  });

  it("should compile and run docs/embedding.md's example: the host's route and the module's, both answering", async () => {
    const page = readFileSync(join(CLONE, 'docs', 'embedding.md'), 'utf8');
    const example = /```ts\n([\s\S]*?)```/.exec(page)![1];
    writeFileSync(join(project, 'main.ts'), example);
    const tsc = join(CLONE, 'node_modules', 'typescript', 'bin', 'tsc');
    await run(process.execPath, [
      tsc,
      ...['--strict', '--skipLibCheck', '--types', 'node', '--outDir', join(project, 'out')],
      ...['--experimentalDecorators', '--emitDecoratorMetadata'],
      ...['--module', 'commonjs', '--moduleResolution', 'node', '--target', 'es2022'],
      join(project, 'main.ts'),
    ]).catch((error: { stdout: string }) => {
      throw new Error(`the example does not compile:\n${error.stdout}`);
    });
    const child = spawn(process.execPath, [join('out', 'main.js')], {
      cwd: project,
      env: { PATH: process.env.PATH, PORT: '0' },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const exited = once(child, 'exit');
    try {
      let output = '';
      const url = await new Promise<string>((resolve, reject) => {
        child.stdout!.on('data', (chunk: Buffer) => {
          output += chunk.toString();
          const listening = /Listening on (http:\S+)/.exec(output);
          if (listening) resolve(listening[1]);
        });
        child.once('exit', (code) =>
          reject(new Error(`exited (${code}) before listening:\n${output}`)),
        );
      });
      const guess = await fetch(`${url}/flowers/guess?petal=1.4`);
      expect(guess.status).toBe(200);
      const predict = await fetch(`${url}/predict`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'iris', instances: [[5.1, 3.5, 1.4, 0.2]] }),
      });
      const answer = (await predict.json()) as { predictions: unknown[] };
      expect(await guess.json()).toEqual(answer.predictions[0]);
      expect(answer.predictions[0]).toMatchObject({ label: 'setosa' });
    } finally {
      child.kill('SIGTERM');
    }
    // enableShutdownHooks: app.close() on SIGTERM, then Nest ends the process with the signal.
    expect(await exited).toEqual([null, 'SIGTERM']);
  });
});
