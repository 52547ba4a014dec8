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
