import { writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { copyShipped, makeRepository, removeRepository } from '../utils/fixtures';
import { runUntilExit } from '../utils/server-process';
import { SHIPPED_MODELS } from '../utils/test-app';
import { jsonLines, RunningServer, runServer } from './utils/server';

jest.setTimeout(60_000);

const messages = (output: string, level: number) =>
  jsonLines(output)
    .filter((line) => line.level === level)
    .map((line) => String(line.msg));

/** What the production entry (node dist/main.js) says at boot about its environment and models. */
describe('Startup messages (node dist/main.js)', () => {
  let server: RunningServer | undefined;
  let repo: string | undefined;
  afterEach(() => {
    server?.stop();
    server = undefined;
    if (repo) removeRepository(repo);
    repo = undefined;
  });

  it('should warn once about each variable meant for it that it does not know, and still start', async () => {
    server = await runServer({
      MODEL_POLL_SECOND: '1',
      MODEL_REPOSITORY: '/srv/models',
      // Someone else's: never warned about.
      HOME: '/root',
      NODE_ENV: 'production',
      ORT_DISABLE_TELEMETRY: '1',
    });
    const warnings = jsonLines(server.output()).filter((line) => line.context === 'Config');
    expect(warnings).toEqual([
      expect.objectContaining({
        level: 40,
        msg: 'Unknown variable MODEL_POLL_SECOND; did you mean MODEL_POLL_SECONDS?',
      }),
      expect.objectContaining({ level: 40, msg: 'Unknown variable MODEL_REPOSITORY' }),
    ]);
  });

  it('should refuse PORT=30OO with one message naming the variable, the value and what it expects', async () => {
    const result = await runUntilExit({ MODEL_DIR: SHIPPED_MODELS, PORT: '30OO' });
    expect(result.code).toBe(1);
    expect(messages(result.output, 50)).toEqual([
      'Startup failed: Invalid configuration: PORT must be an integer number from 0 to 65535 (got "30OO")',
    ]);
  });

  it('should name the path of a model that fails to load once', async () => {
    repo = await makeRepository({
      'corrupt/1': (dir) => {
        mkdirSync(dir, { recursive: true });
        writeFileSync(join(dir, 'model.onnx'), 'this is not a protobuf');
      },
      'labelled/1': (dir) => {
        copyShipped('iris/2')(dir);
        writeFileSync(join(dir, 'metadata.json'), '{"labels": 3}');
      },
    });
    const result = await runUntilExit({ MODEL_DIR: repo });
    expect(result.code).toBe(1);
    const [failure] = messages(result.output, 50);
    expect(failure).toContain(
      `failed to load 'corrupt' version 1: ${repo}/corrupt/1/model.onnx: ONNX Runtime cannot load it: Protobuf parsing failed`,
    );
    expect(failure).toContain(
      `failed to load 'labelled' version 1: ${repo}/labelled/1/metadata.json: "labels" must be an array of strings`,
    );
    for (const folder of ['corrupt/1', 'labelled/1']) {
      expect(failure.split(`${repo}/${folder}`)).toHaveLength(2);
    }
  });
});
