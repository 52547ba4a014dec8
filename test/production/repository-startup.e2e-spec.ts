import { runUntilExit } from '../utils/server-process';
import { SHIPPED_MODELS } from '../utils/test-app';
import { waitFor } from './utils/http';
import { jsonLines, RunningServer, runServer } from './utils/server';

jest.setTimeout(60_000);

/** What the production entry (node dist/main.js) does with the repository API's settings. */
describe('Model control at startup (node dist/main.js)', () => {
  let server: RunningServer | undefined;
  afterEach(() => {
    server?.stop();
    server = undefined;
  });

  it('should refuse to start in explicit mode on a non-loopback HOST without ADMIN_API_KEY, saying why', async () => {
    const result = await runUntilExit({
      MODEL_DIR: SHIPPED_MODELS,
      MODEL_CONTROL_MODE: 'explicit',
      HOST: '0.0.0.0',
    });
    expect(result.code).toBe(1);
    expect(result.output).not.toMatch(/Listening on/);
    const errors = jsonLines(result.output).map((line) => String(line.msg));
    expect(errors.join('\n')).toContain(
      'MODEL_CONTROL_MODE=explicit on HOST=0.0.0.0 would let anyone who reaches the server load and unload models: set ADMIN_API_KEY',
    );
  });

  it('should start in explicit mode with the key, say how models change, and load only LOAD_MODELS', async () => {
    const key = 'startup-test-admin-key';
    server = await runServer({
      MODEL_DIR: SHIPPED_MODELS,
      MODEL_CONTROL_MODE: 'explicit',
      LOAD_MODELS: 'iris',
      ADMIN_API_KEY: key,
    });
    const said =
      'Hot reload off: MODEL_CONTROL_MODE=explicit, models are loaded and unloaded by POST /v2/repository/models/{name}/load and /unload';
    // Logged right after the Listening line.
    await waitFor(() => server!.output().includes(said));
    const index = await fetch(`${server.url}/v2/repository/index`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'admin-key': key },
      body: '{"ready": true}',
    });
    expect(await index.json()).toEqual([
      { name: 'iris', version: '2', state: 'READY', reason: '' },
    ]);
  });
});
