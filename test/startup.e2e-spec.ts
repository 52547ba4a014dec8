import { cpSync, mkdtempSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import {
  copyShipped,
  corruptModelJson,
  labelsMismatch,
  makeRepository,
  missingShard,
  ModelWriter,
  removeRepository,
  truncatedShard,
  unknownOpGraph,
} from './utils/fixtures';
import { runUntilExit, startServer, waitForListening } from './utils/server-process';
import { createTestApp, SHIPPED_MODELS } from './utils/test-app';

/** The production entry, `node dist/main.js`, must refuse to listen with a broken repository. */
describe('Fail fast at startup (node dist/main.js)', () => {
  const repos: string[] = [];
  afterAll(() => repos.forEach(removeRepository));

  const repoWith = async (entries: Record<string, ModelWriter>) => {
    const repo = await makeRepository({ 'linear/1': copyShipped('linear/1'), ...entries });
    repos.push(repo);
    return repo;
  };

  const expectBootFailure = async (env: Record<string, string>, ...patterns: RegExp[]) => {
    const result = await runUntilExit(env);
    // Exited by itself: runUntilExit kills a process still running after 20 s (code null).
    expect(result.code).toBe(1);
    expect(result.output).not.toMatch(/Listening on/);
    // Every line is a JSON log line: match the messages as written, not JSON-escaped.
    const messages = result.output
      .split('\n')
      .filter((line) => line.trim() !== '')
      .map((line) => String((JSON.parse(line) as { msg?: unknown }).msg))
      .join('\n');
    for (const pattern of patterns) expect(messages).toMatch(pattern);
  };

  it('should exit 1 when MODEL_DIR does not exist', () =>
    expectBootFailure(
      { MODEL_DIR: '/nonexistent/models' },
      /MODEL_DIR \/nonexistent\/models does not exist/,
    ));

  it('should exit 1 when the repository is empty', async () => {
    const empty = mkdtempSync(join(tmpdir(), 'empty-repo-'));
    repos.push(empty);
    await expectBootFailure(
      { MODEL_DIR: empty },
      /holds no model; expected <name>\/<version>\/model.json/,
    );
  });

  it('should exit 1 naming the path of a corrupt model.json', async () => {
    const repo = await repoWith({ 'broken/1': corruptModelJson });
    await expectBootFailure(
      { MODEL_DIR: repo },
      new RegExp(`${repo}/broken/1/model.json: model.json is not valid JSON`),
    );
  });

  it('should exit 1 naming a missing weight shard', async () => {
    const repo = await repoWith({ 'graph/1': missingShard });
    await expectBootFailure(
      { MODEL_DIR: repo },
      new RegExp(`${repo}/graph/1/model.json: missing weight shard group1-shard2of3.bin`),
    );
  });

  it('should exit 1 on a truncated weight shard', async () => {
    const repo = await repoWith({ 'short/1': truncatedShard });
    await expectBootFailure(
      { MODEL_DIR: repo },
      /short\/1\/model.json: weight shards hold 3 bytes but the manifest describes 8/,
    );
  });

  it('should exit 1 on a graph that TF.js cannot run', async () => {
    const repo = await repoWith({ 'weird/1': unknownOpGraph });
    await expectBootFailure({ MODEL_DIR: repo }, /weird\/1\/model.json: .*NoSuchTensorFlowOp/);
  });

  it('should exit 1 when metadata.json labels do not fit the output', async () => {
    const repo = await repoWith({ 'iris/2': labelsMismatch });
    await expectBootFailure(
      { MODEL_DIR: repo },
      /metadata.json lists 2 labels but the model's outputs are 'probabilities' \[-1,3\]/,
    );
  });

  it('should exit 1 with a clear message for an invalid configuration value', () =>
    expectBootFailure(
      { MODEL_DIR: SHIPPED_MODELS, TFJS_BACKEND: 'gpu', MAX_BATCH: 'many' },
      /Invalid configuration: .*TFJS_BACKEND must be one of the following values: auto, tensorflow, wasm, cpu \(got "gpu"\)/,
      /MAX_BATCH must be an integer number >= 1 \(got "many"\)/,
    ));

  it('should exit 1 when TFJS_BACKEND=tensorflow but @tensorflow/tfjs-node is not installed', async () => {
    let nativeInstalled = true;
    try {
      require.resolve('@tensorflow/tfjs-node');
    } catch {
      nativeInstalled = false;
    }
    // Where the optional native backend did install, asking for it is legitimate: skip the check.
    if (nativeInstalled) return;
    await expectBootFailure(
      { MODEL_DIR: SHIPPED_MODELS, TFJS_BACKEND: 'tensorflow' },
      /TFJS_BACKEND=tensorflow needs @tensorflow\/tfjs-node, which cannot be loaded/,
    );
  });

  it('should exit 1 when DEFAULT_MODEL names a model that is not in the repository', () =>
    expectBootFailure(
      { MODEL_DIR: SHIPPED_MODELS, DEFAULT_MODEL: 'ghost' },
      /DEFAULT_MODEL=ghost is not in the repository/,
    ));
});

describe('Production entry honours PORT and MODEL_DIR, and reads models only at startup', () => {
  it('should serve the repository named by MODEL_DIR, even after its files are moved away', async () => {
    const parent = mkdtempSync(join(tmpdir(), 'load-once-'));
    const repo = join(parent, 'models');
    cpSync(join(SHIPPED_MODELS, 'linear'), join(repo, 'linear'), { recursive: true });
    const child = startServer({ MODEL_DIR: repo, PORT: '0', SHUTDOWN_DELAY_MS: '0' });
    try {
      const url = await waitForListening(child);
      const before = await request(url)
        .post('/predict')
        .send({ instances: [[1]] })
        .expect(200);
      // Take the model files away: a server that reads them per request would now fail.
      renameSync(repo, join(parent, 'moved'));
      for (let i = 0; i < 20; i++) {
        const after = await request(url)
          .post('/predict')
          .send({ instances: [[1]] })
          .expect(200);
        expect(after.body).toEqual(before.body);
      }
      const models = await request(url).get('/models').expect(200);
      expect(models.body.models).toEqual([{ name: 'linear', versions: [1] }]);
    } finally {
      child.kill('SIGTERM');
      rmSync(parent, { recursive: true, force: true });
    }
  });

  it('should listen on the configured PORT', async () => {
    const port = String(20000 + Math.floor(Math.random() * 20000));
    const child = startServer({ MODEL_DIR: SHIPPED_MODELS, PORT: port, SHUTDOWN_DELAY_MS: '0' });
    try {
      const url = await waitForListening(child);
      expect(url).toBe(`http://127.0.0.1:${port}`);
      await request(url).get('/health/ready').expect(200);
    } finally {
      child.kill('SIGTERM');
    }
  });
});

describe('Fail fast in-process (app.init rejects)', () => {
  it('should reject init with the model path and cause, so a test harness sees the same failure', async () => {
    const repo = await makeRepository({ 'broken/1': corruptModelJson });
    try {
      await expect(createTestApp({ MODEL_DIR: repo })).rejects.toThrow(
        new RegExp(
          `Cannot load 1 model\\(s\\):\\s+failed to load 'broken' version 1: ${repo}/broken/1/model.json: model.json is not valid JSON`,
        ),
      );
    } finally {
      removeRepository(repo);
    }
  });

  it('should not fall back silently from an unavailable backend to another', async () => {
    await expect(createTestApp({ TFJS_BACKEND: 'tensorflow' })).rejects.toThrow(
      /TFJS_BACKEND=tensorflow needs/,
    );
  });
});
