import { readdirSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { runUntilExit } from '../utils/server-process';
import { SHIPPED_MODELS } from '../utils/test-app';
import { getFresh, jsonLines, RunningServer, runServer } from './utils/server';
import { waitFor } from './utils/http';

jest.setTimeout(60_000);

/** Every non-empty line of the output, each parsed as JSON (a line that is not fails the test). */
const everyLineJson = (output: string) =>
  output
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => {
      try {
        return JSON.parse(line) as Record<string, unknown>;
      } catch {
        throw new Error(`not a JSON log line: ${line}`);
      }
    });

/** Logs of the production entry (node dist/main.js) from its first line, and their levels. */
describe('Boot logs and log levels (node dist/main.js)', () => {
  let server: RunningServer | undefined;
  afterEach(() => server?.stop());

  it('should write a configuration error at boot as a JSON line, and nothing else', async () => {
    const result = await runUntilExit({ MODEL_DIR: SHIPPED_MODELS, MAX_BATCH: 'lots' });
    expect(result.code).toBe(1);
    const lines = everyLineJson(result.output);
    expect(lines).toEqual([
      expect.objectContaining({
        level: 50,
        context: 'Bootstrap',
        msg: expect.stringMatching(/^Startup failed: Invalid configuration: MAX_BATCH/),
      }),
    ]);
    expect(result.output).not.toContain('\u001b['); // no terminal colours
  });

  it('should write every line of a model failing at boot as JSON, the Nest lines included', async () => {
    const result = await runUntilExit({ MODEL_DIR: '/nonexistent-model-dir' });
    expect(result.code).toBe(1);
    const lines = everyLineJson(result.output);
    expect(lines[0]).toMatchObject({ context: 'NestFactory', level: 30 });
    // In the order they were logged: with a writer per logger, the last lines overtook earlier
    // ones under load (the failure came out before the route lines).
    const times = lines.map((line) => line.time as number);
    expect(times).toEqual([...times].sort((a, b) => a - b));
    expect(lines.at(-1)).toMatchObject({
      level: 50,
      msg: expect.stringContaining('MODEL_DIR /nonexistent-model-dir does not exist'),
    });
  });

  it('should log at boot whether hot reload is on, and log an expected 503 at warn', async () => {
    server = await runServer({
      LOG_LEVEL: 'info',
      MODEL_POLL_SECONDS: '30',
      SHUTDOWN_DELAY_MS: '3000',
    });
    const s = server;
    // Logged just after the Listening line, which may reach this process in an earlier chunk.
    const hotReloadLine = `Hot reload on: ${SHIPPED_MODELS} is scanned every 30 s (MODEL_POLL_SECONDS)`;
    await waitFor(() => jsonLines(s.output()).some((l) => l.msg === hotReloadLine));
    expect(jsonLines(s.output())).toContainEqual(
      expect.objectContaining({ level: 30, msg: hotReloadLine }),
    );
    // Draining: readiness answers 503 on purpose, which is no error of the server's.
    s.child.kill('SIGTERM');
    await waitFor(async () => (await getFresh(`${s.url}/health/ready`)).status === 503);
    let line: Record<string, unknown> | undefined;
    await waitFor(() => {
      line = jsonLines(s.output()).find((l) => l.route === '/health/ready' && l.status === 503);
      return line !== undefined;
    }, 3000);
    expect(line).toMatchObject({ level: 40, status: 503 });
    expect(await s.exit).toEqual({ code: 0, signal: null });
    everyLineJson(s.output());
  });

  it('should cap WORKERS at the cores with a warning, and start without stalling', async () => {
    const cores = availableParallelism();
    const started = Date.now();
    server = await runServer({ WORKERS: '64', SHUTDOWN_DELAY_MS: '0' });
    const elapsed = Date.now() - started;
    const expected = Math.min(64, cores);
    const lines = jsonLines(server.output());
    if (cores < 64) {
      expect(lines).toContainEqual(
        expect.objectContaining({
          level: 40,
          msg: expect.stringMatching(
            new RegExp(
              `^WORKERS=64 is more than the ${cores} cores of this machine; starting ${cores} workers`,
            ),
          ),
        }),
      );
    }
    expect(lines).toContainEqual(
      expect.objectContaining({ msg: expect.stringContaining(`(${expected} workers`) }),
    );
    // Uncapped, 64 workers took 85 s to listen on 2 cores; capped, about 5 s.
    expect(elapsed).toBeLessThan(30_000);
    expect((await getFresh(`${server.url}/health/ready`)).status).toBe(200);
    server.child.kill('SIGTERM');
    expect(await server.exit).toEqual({ code: 0, signal: null });
  });
});

/** The lines up to and including the first "Listening on" one (what a user sees before the URL). */
function untilListening(output: string): string[] {
  const lines = output.split('\n').filter((line) => line.trim() !== '');
  return lines.slice(0, lines.findIndex((line) => line.includes('Listening on')) + 1);
}

const TFJS_BANNER = 'Hi, looks like you are running TensorFlow.js';

/** Issue 19, a quiet first run: the boot fits on a screen and the address is easy to find. */
describe('A quiet boot (node dist/main.js, shipped models)', () => {
  let server: RunningServer | undefined;
  afterEach(() => server?.stop());

  it('should boot in about a dozen lines: one per model, one Listening line, no Nest chatter', async () => {
    server = await runServer({});
    const lines = untilListening(server.output());
    const json = everyLineJson(lines.join('\n'));
    expect(lines.length).toBeLessThanOrEqual(12);
    const models = readdirSync(SHIPPED_MODELS, { withFileTypes: true })
      .filter((entry) => entry.isDirectory())
      .map((entry) => entry.name);
    for (const name of models) {
      expect(json.filter((line) => String(line.msg).startsWith(`Serving ${name} `))).toEqual([
        expect.objectContaining({
          level: 30,
          msg: expect.stringMatching(/\): loaded in \d+\.\d ms, warmed in \d+\.\d ms$/),
        }),
      ]);
    }
    expect(json.filter((line) => String(line.msg).startsWith('Listening on '))).toEqual([
      expect.objectContaining({
        level: 30,
        msg: expect.stringMatching(/^Listening on http:\/\/127\.0\.0\.1:\d+ /),
      }),
    ]);
    const contexts = json.map((line) => line.context);
    for (const chatter of ['InstanceLoader', 'RoutesResolver', 'RouterExplorer']) {
      expect(contexts).not.toContain(chatter);
    }
    expect(server.output()).not.toContain(TFJS_BANNER);
  });

  it("should keep Nest's route lines and each version's load line at debug", async () => {
    server = await runServer({ LOG_LEVEL: 'debug' });
    const json = everyLineJson(untilListening(server.output()).join('\n'));
    expect(json).toContainEqual(
      expect.objectContaining({
        level: 20,
        context: 'RouterExplorer',
        msg: expect.stringMatching(/^Mapped \{\/predict, POST\} route/),
      }),
    );
    expect(json).toContainEqual(
      expect.objectContaining({
        level: 20,
        context: 'ModelRegistry',
        msg: expect.stringMatching(/^Loaded iris\/2 \(layers-model\) in /),
      }),
    );
  });

  it('should write readable text with LOG_FORMAT=pretty, and no TF.js banner even on the cpu backend', async () => {
    // cpu: the TF.js backend whose first tensor printed the "install tfjs-node" banner, per thread.
    server = await runServer({ LOG_FORMAT: 'pretty', TFJS_BACKEND: 'cpu' });
    const s = server;
    expect((await getFresh(`${s.url}/health/ready`)).status).toBe(200);
    const predicted = await fetch(`${s.url}/predict`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'iris', instances: [[5.1, 3.5, 1.4, 0.2]] }),
    });
    expect(predicted.status).toBe(200);
    await waitFor(() => s.output().includes('"route":"/predict"'));
    s.child.kill('SIGTERM');
    expect(await s.exit).toEqual({ code: 0, signal: null });
    const lines = s
      .output()
      .split('\n')
      .filter((line) => line.trim() !== '');
    const time = String.raw`\[\d{2}:\d{2}:\d{2}\.\d{3}\]`;
    expect(lines).toContainEqual(
      expect.stringMatching(
        new RegExp(
          `^${time} INFO: \\[Bootstrap\\] Listening on http://127\\.0\\.0\\.1:\\d+ \\(docs at /docs\\)$`,
        ),
      ),
    );
    expect(lines).toContainEqual(
      expect.stringMatching(
        new RegExp(`^${time} INFO: request completed \\{.*"route":"/predict".*"status":200`),
      ),
    );
    expect(lines.filter((line) => line.startsWith('{'))).toEqual([]);
    expect(s.output()).not.toContain('\u001b['); // no colours when stdout is not a terminal
    expect(s.output()).not.toContain(TFJS_BANNER);
  });
});
