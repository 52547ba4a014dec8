import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { copyShipped, makeRepository, removeRepository } from '../utils/fixtures';
import { runServer } from './utils/server';

/**
 * ONNX Runtime 1.29+ uploads usage events from Linux unless ORT_DISABLE_TELEMETRY is set, and
 * leaves a debug log in TMPDIR and a cache under $HOME/.cache/Microsoft on the way. The built server
 * runs with a HOME and a TMPDIR of its own, so anything it leaves there is visible.
 * startServer passes no CI variable (CI, GITHUB_ACTIONS, ...): ONNX Runtime stays quiet under
 * those, which would hide the leak in CI.
 */
describe('ONNX Runtime telemetry (e2e, built server)', () => {
  let repo: string;
  let home: string;
  let tmp: string;
  beforeAll(async () => {
    repo = await makeRepository({ 'iris-onnx/1': copyShipped('iris-onnx/1') });
    home = mkdtempSync(join(tmpdir(), 'ort-home-'));
    tmp = mkdtempSync(join(tmpdir(), 'ort-tmp-'));
  });
  afterAll(() => {
    removeRepository(repo);
    rmSync(home, { recursive: true, force: true });
    rmSync(tmp, { recursive: true, force: true });
  });

  it('should serve an ONNX model without leaving files in HOME or TMPDIR', async () => {
    const server = await runServer({ MODEL_DIR: repo, HOME: home, TMPDIR: tmp });
    try {
      const res = await fetch(`${server.url}/v1/models/iris-onnx:predict`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ instances: [[5.1, 3.5, 1.4, 0.2]] }),
      });
      expect(res.status).toBe(200);
      server.child.kill('SIGTERM');
      expect(await server.exit).toEqual({ code: 0, signal: null });
    } finally {
      server.stop();
    }
    expect(existsSync(join(home, '.cache', 'Microsoft'))).toBe(false);
    // ONNX Runtime writes mat-debug-<pid>.log (and a .ses file) in TMPDIR, /tmp without it.
    expect(readdirSync(tmp)).toEqual([]);
    expect(existsSync(`/tmp/mat-debug-${server.child.pid}.log`)).toBe(false);
  });
});
