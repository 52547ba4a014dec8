import { ChildProcess, spawn } from 'node:child_process';
import { chmodSync, cpSync, mkdtempSync, renameSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MAIN_JS, waitForListening } from '../utils/server-process';
import { SHIPPED_MODELS } from '../utils/test-app';
import { waitFor } from './utils/http';

jest.setTimeout(150_000);

/**
 * Root reads a file whatever its mode, and CI runs as root: the server runs as `nobody` here so
 * that chmod means to it what it means to a production server (not root).
 */
const AS_USER = process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : {};

/**
 * Permissions under hot reload (node dist/main.js): a model folder the server cannot read fails
 * only that model, and a version that failed to load for want of permission is retried once a
 * chmod (which changes only ctime) lets it be read.
 */
describe('Hot reload and file permissions (node dist/main.js, not as root)', () => {
  let root: string;
  let child: ChildProcess;
  let base: string;
  let output = '';

  const versionStatus = async (model: string) => {
    const res = await fetch(`${base}/v1/models/${model}`);
    if (res.status !== 200) return [];
    const body = (await res.json()) as {
      model_version_status: { version: string; state: string; status: { error_message: string } }[];
    };
    return body.model_version_status;
  };
  /** y(3) of a linear model through V2. */
  const answer = async (model: string) => {
    const res = await fetch(`${base}/v2/models/${model}/infer`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ inputs: [{ name: 'x', shape: [1, 1], datatype: 'FP32', data: [3] }] }),
    });
    const body = (await res.json()) as { outputs?: { data: number[] }[] };
    return res.status === 200 ? body.outputs![0].data[0] : res.status;
  };
  const linearTo = (dir: string) =>
    cpSync(join(SHIPPED_MODELS, 'linear', '1'), dir, { recursive: true });
  /** Drops a model folder in whole, by a rename from a dot-folder the scan skips. */
  const dropModel = (name: string, prepare: (dir: string) => void) => {
    const staging = join(root, `.incoming-${name}`);
    linearTo(join(staging, '1'));
    prepare(staging);
    renameSync(staging, join(root, name));
  };

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'hot-reload-perms-'));
    chmodSync(root, 0o755);
    linearTo(join(root, 'linear', '1'));
    child = spawn(process.execPath, [MAIN_JS], {
      env: {
        PATH: process.env.PATH,
        HOST: '127.0.0.1',
        PORT: '0',
        GRPC_PORT: '0',
        MODEL_DIR: root,
        MODEL_POLL_SECONDS: '0.1',
        INFERENCE_THREADS: '1',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
      ...AS_USER,
    });
    child.stdout!.on('data', (chunk) => (output += chunk));
    child.stderr!.on('data', (chunk) => (output += chunk));
    base = await waitForListening(child, 90_000);
  });
  afterAll(async () => {
    if (child.exitCode === null) {
      const exited = new Promise((resolve) => child.on('close', resolve));
      child.kill('SIGTERM');
      await exited;
    }
    rmSync(root, { recursive: true, force: true });
  });

  it('should retry a version that could not be read once chmod makes it readable', async () => {
    const modelJson = join(root, 'locked', '1', 'model.json');
    dropModel('locked', (dir) => chmodSync(join(dir, '1', 'model.json'), 0o000));
    await waitFor(async () => (await versionStatus('locked'))[0]?.state === 'END', 45_000);
    expect((await versionStatus('locked'))[0].status.error_message).toMatch(
      /EACCES|permission denied/i,
    );
    expect(await answer('locked')).toBe(404);

    const { mtimeMs, size } = statSync(modelJson);
    chmodSync(modelJson, 0o644); // only mode and ctime change: same bytes, same mtime
    expect(statSync(modelJson)).toMatchObject({ mtimeMs, size });
    await waitFor(async () => (await versionStatus('locked'))[0]?.state === 'AVAILABLE', 45_000);
    expect(await answer('locked')).toBeCloseTo(11.06, 1); // the shipped y = 3.02x + 1.98
  });

  it('should skip a model folder it cannot read, warning once, while the other models reload', async () => {
    chmodSync(join(root, 'linear'), 0o000);
    dropModel('other', () => undefined);
    await waitFor(async () => (await versionStatus('other'))[0]?.state === 'AVAILABLE', 45_000);
    rmSync(join(root, 'other'), { recursive: true });
    await waitFor(async () => (await versionStatus('other')).length === 0, 45_000);

    // Several passes later (a load, then an unload), linear still serves what it had loaded.
    expect(await answer('linear')).toBeCloseTo(11.06, 1);
    const warnings = output.split('\n').filter((line) => line.includes("skips model 'linear'"));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/cannot read model folder .*linear: EACCES/);

    chmodSync(join(root, 'linear'), 0o755);
    await waitFor(
      () => output.includes("Hot reload reads the folder of model 'linear' again"),
      45_000,
    );
    linearTo(join(root, 'linear', '.incoming-2'));
    renameSync(join(root, 'linear', '.incoming-2'), join(root, 'linear', '2'));
    await waitFor(async () => (await versionStatus('linear'))[0]?.version === '2', 45_000);
  });
});
