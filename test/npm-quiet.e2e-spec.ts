import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';

const ROOT = join(__dirname, '..');
const run = promisify(execFile);

/** Runs npm in the project folder, the way a user's `npm start` or `npm ci` reads its config. */
const npm = (...args: string[]) =>
  run('npm', args, { cwd: ROOT, env: process.env, encoding: 'utf8', timeout: 60_000 });

jest.setTimeout(90_000);

/**
 * A first run prints no npm warning (issue 19): every npm command read the project's .npmrc, and
 * npm 11 warned about its unknown key on each; `npm ci` listed the dependencies whose install
 * scripts it skipped without a decision. Running `npm ci` here would take minutes: these read the
 * same config and the same install-script policy.
 */
describe('npm commands in the project (no warnings)', () => {
  it('should read the project config without a warning, as npm start does', async () => {
    const { stdout, stderr } = await npm('pkg', 'get', 'name');
    expect(JSON.parse(stdout)).toBe('tfjs-model-server');
    expect(stderr).not.toMatch(/warn/i);
  });

  it('should have decided on every installed install script, so npm ci lists none', async () => {
    const { stdout, stderr } = await npm('install-scripts', 'ls');
    expect(stdout.trim()).toBe('No packages with unreviewed install scripts.');
    expect(stderr).not.toMatch(/warn/i);
  });

  it("should keep onnxruntime-node's GPU download denied (it needs a host outside the npm registry)", () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
      allowScripts?: Record<string, boolean>;
    };
    expect(pkg.allowScripts?.['onnxruntime-node']).toBe(false);
  });
});
