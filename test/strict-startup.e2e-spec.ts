import { mkdirSync, readdirSync, readFileSync, renameSync } from 'node:fs';
import { createServer, Server } from 'node:net';
import { join } from 'node:path';
import request from 'supertest';
import { waitFor } from './production/utils/http';
import { jsonLines } from './production/utils/server';
import {
  copyShipped,
  corruptModelJson,
  makeRepository,
  ModelWriter,
  removeRepository,
} from './utils/fixtures';
import { runUntilExit, startServer, waitForListening } from './utils/server-process';
import { SHIPPED_MODELS } from './utils/test-app';

jest.setTimeout(120_000);

/** Generous: a check or a boot loads every model in every thread, on a busy 2-core machine. */
const EXIT_WITHIN_MS = 90_000;
const BROKEN = /model\.json is not valid JSON/;

/**
 * A restart on a repository holding one bad model: by default it stops (exit 1), as it always
 * has; with STRICT_STARTUP=false it serves what loads and reports the rest the way hot reload
 * does. `--check` tells which of the two a restart would meet, without serving anything.
 */
describe('STRICT_STARTUP and --check on a repository with one bad model (node dist/main.js)', () => {
  let repo: string;
  let onlyBad: string;

  beforeAll(async () => {
    repo = await makeRepository({
      'linear/1': copyShipped('linear/1'),
      'broken/1': corruptModelJson,
    });
    onlyBad = await makeRepository({ 'broken/1': corruptModelJson });
  });
  afterAll(() => [repo, onlyBad].forEach(removeRepository));

  it('should exit 1 by default, naming the model that cannot load, before listening', async () => {
    const result = await runUntilExit({ MODEL_DIR: repo }, EXIT_WITHIN_MS);
    expect(result.code).toBe(1);
    expect(result.output).not.toMatch(/Listening on/);
    expect(result.output).toMatch(/Startup failed: Cannot load 1 model\(s\)/);
    expect(result.output).toContain(`${repo}/broken/1/model.json: model.json is not valid JSON`);
  });

  it('should serve the model that loads with STRICT_STARTUP=false, list the bad one as failed with its reason, and be ready', async () => {
    const child = startServer({ MODEL_DIR: repo, STRICT_STARTUP: 'false', SHUTDOWN_DELAY_MS: '0' });
    let output = '';
    child.stdout!.on('data', (chunk) => (output += chunk));
    const exited = new Promise((resolve) => child.on('close', resolve));
    try {
      const url = await waitForListening(child, EXIT_WITHIN_MS);
      const models = await request(url).get('/models').expect(200);
      expect(models.body).toEqual({
        models: [{ name: 'linear', versions: [1] }],
        failed: [
          {
            name: 'broken',
            version: 1,
            // Relative to MODEL_DIR, as hot reload reports a bad new version to clients.
            error: expect.stringMatching(
              /^failed to load 'broken' version 1: broken\/1\/model\.json: model\.json is not valid JSON/,
            ),
          },
        ],
      });
      // The documented rule: a model that fails to load does not make the server unready.
      await request(url).get('/health/ready').expect(200);
      await request(url).get('/v2/health/ready').expect(200);
      await request(url).get('/v2/models/broken/ready').expect(503);
      const status = await request(url).get('/v1/models/broken').expect(200);
      expect(status.body.model_version_status).toEqual([
        expect.objectContaining({ version: '1', state: 'END' }),
      ]);
      const prediction = await request(url)
        .post('/predict')
        .send({ model: 'linear', instances: [[1]] })
        .expect(200);
      expect(prediction.body.model).toBe('linear');
      expect(output).toMatch(
        /Model 'broken' version 1 is not served: failed to load 'broken' version 1: .*broken\/1\/model\.json: model\.json is not valid JSON.*STRICT_STARTUP=false/,
      );
    } finally {
      child.kill('SIGTERM');
      await exited;
    }
  });

  it('should still refuse to start with STRICT_STARTUP=false when no model loads', async () => {
    const result = await runUntilExit(
      { MODEL_DIR: onlyBad, STRICT_STARTUP: 'false' },
      EXIT_WITHIN_MS,
    );
    expect(result.code).toBe(1);
    expect(result.output).not.toMatch(/Listening on/);
    expect(result.output).toMatch(/Startup failed: No model could be loaded/);
    expect(result.output).toContain(`${onlyBad}/broken/1/model.json: model.json is not valid JSON`);
  });

  it('should check the named repository: one row per model with the reason of the failure, exit 1, no server', async () => {
    // MODEL_DIR names the shipped models: the directory after --check wins.
    const result = await runUntilExit({ MODEL_DIR: SHIPPED_MODELS }, EXIT_WITHIN_MS, [
      '--check',
      repo,
    ]);
    expect(result.code).toBe(1);
    expect(result.output).toMatch(/^OK\s+linear\s+1\s+layers-model\s/m);
    expect(result.output).toMatch(
      new RegExp(`^FAILED\\s+broken\\s+1\\s.*${repo}/broken/1/model\\.json: ${BROKEN.source}`, 'm'),
    );
    expect(result.output).toMatch(/a restart with STRICT_STARTUP=true would fail/);
    expect(result.output).not.toMatch(/Listening on|Nest application/);
  });

  it('should pass the shipped models (MODEL_DIR) with exit 0 without binding PORT', async () => {
    // Another process holds PORT: a check that tried to listen there would fail (EADDRINUSE).
    const holder: Server = createServer();
    await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
    const port = (holder.address() as { port: number }).port;
    try {
      const result = await runUntilExit(
        { MODEL_DIR: SHIPPED_MODELS, PORT: String(port) },
        EXIT_WITHIN_MS,
        ['--check'],
      );
      expect(result.code).toBe(0);
      const shipped = readdirSync(SHIPPED_MODELS, { withFileTypes: true })
        .filter((entry) => entry.isDirectory())
        .map((entry) => entry.name);
      const ok = [...result.output.matchAll(/^OK\s+(\S+)\s+\d+\s/gm)].map(([, name]) => name);
      expect(ok.sort()).toEqual(shipped.sort());
      expect(result.output).not.toMatch(/^FAILED/m);
      expect(result.output).not.toMatch(/Listening on/);
    } finally {
      holder.close();
    }
  });

  it('should fail the check of a repository that does not exist, saying so', async () => {
    const result = await runUntilExit({}, EXIT_WITHIN_MS, ['--check', '/nonexistent/models']);
    expect(result.code).toBe(1);
    expect(result.output).toMatch(/^FAILED {2}MODEL_DIR \/nonexistent\/models does not exist/m);
  });

  it('should be what npm run check-models runs, the directory passed after --', () => {
    const pkg = JSON.parse(readFileSync(join(__dirname, '..', 'package.json'), 'utf8')) as {
      scripts: Record<string, string>;
    };
    // npm appends the arguments after `--` to the script: `node dist/main.js --check <dir>`.
    expect(pkg.scripts['check-models']).toMatch(/(^|&& )node dist\/main\.js --check$/);
  });
});

/**
 * The running server says when its repository would stop a strict restart: once per version it
 * cannot load, however many scans see it. Scans are counted by events, not by the clock: two
 * good models dropped after the warning are each loaded by a later scan.
 */
describe('Hot reload warns of what a strict restart would refuse (node dist/main.js)', () => {
  let repo: string;
  beforeAll(async () => {
    repo = await makeRepository({ 'linear/1': copyShipped('linear/1') });
  });
  afterAll(() => removeRepository(repo));

  /** Written under a dot-name and renamed in, so no scan sees half of it. */
  const drop = async (model: string, write: ModelWriter) => {
    mkdirSync(join(repo, model), { recursive: true });
    await write(join(repo, model, '.incoming-1'));
    renameSync(join(repo, model, '.incoming-1'), join(repo, model, '1'));
  };

  it('should warn once that a restart with STRICT_STARTUP=true would fail, and stay ready', async () => {
    const child = startServer({
      MODEL_DIR: repo,
      MODEL_POLL_SECONDS: '0.2',
      SHUTDOWN_DELAY_MS: '0',
    });
    let output = '';
    child.stdout!.on('data', (chunk) => (output += chunk));
    const exited = new Promise((resolve) => child.on('close', resolve));
    const warnings = () =>
      jsonLines(output).filter(
        (line) =>
          line.level === 40 &&
          String(line.msg).includes('broken/1/model.json') &&
          String(line.msg).endsWith('a restart with STRICT_STARTUP=true would fail'),
      );
    const serves = (model: string) => async () =>
      (await fetch(`${url}/v2/models/${model}/ready`)).status === 200;
    let url = '';
    try {
      url = await waitForListening(child, EXIT_WITHIN_MS);
      await drop('broken', corruptModelJson);
      await waitFor(() => warnings().length > 0, EXIT_WITHIN_MS);
      await drop('second', copyShipped('linear/1'));
      await waitFor(serves('second'), EXIT_WITHIN_MS);
      await drop('third', copyShipped('linear/1'));
      await waitFor(serves('third'), EXIT_WITHIN_MS);

      expect(warnings()).toHaveLength(1);
      expect(String(warnings()[0].msg)).toMatch(BROKEN);
      await request(url).get('/health/ready').expect(200);
      const models = await request(url).get('/models').expect(200);
      expect(models.body.failed).toEqual([expect.objectContaining({ name: 'broken', version: 1 })]);
    } finally {
      child.kill('SIGTERM');
      await exited;
    }
  });
});
