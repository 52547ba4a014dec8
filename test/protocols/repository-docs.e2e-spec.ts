import { NestExpressApplication } from '@nestjs/platform-express';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pageExamples, runExample } from '../utils/doc-examples';
import { REPO_ROOT } from '../utils/doc-links';
import { listenOnLoopback } from '../production/utils/http';
import { closeApp, createTestApp } from '../utils/test-app';

const PAGE = 'docs/model-repository.md';
const text = readFileSync(join(REPO_ROOT, PAGE), 'utf8');
const isWalkthrough = (block: string) => /MODEL_CONTROL_MODE=explicit/.test(block);

/** The walkthrough's server: the variables its start line sets, MODEL_DIR from the repository root. */
function walkthroughEnv(): Record<string, string> {
  const block = [...text.matchAll(/```bash\n([\s\S]*?)```/g)].map((m) => m[1]).find(isWalkthrough);
  const start = block?.split('\n').find((line) => / npm start$/.test(line));
  if (!start) throw new Error(`${PAGE} has no explicit-mode walkthrough starting with npm start`);
  const env = Object.fromEntries(
    start
      .replace(/ npm start$/, '')
      .split(' ')
      .map((pair) => pair.split('=') as [string, string]),
  );
  return { ...env, MODEL_DIR: join(REPO_ROOT, env.MODEL_DIR) };
}

/**
 * docs/model-repository.md's explicit-mode walkthrough, run as written (curl) against a server
 * started with the variables its start line gives: the readme-examples test runs the page's other
 * blocks against a default server, where load and unload are refused.
 */
describe('The model repository walkthrough of docs/model-repository.md (e2e)', () => {
  let app: NestExpressApplication;
  let url: string;
  const examples = pageExamples(PAGE, text, isWalkthrough);

  beforeAll(async () => {
    app = await createTestApp(walkthroughEnv());
    url = await listenOnLoopback(app);
  }, 60_000);
  afterAll(() => closeApp(app));

  it('should answer every command with the status and the JSON its comment shows', async () => {
    expect(examples.map((e) => e.command.split(' ')[2])).toEqual([
      'localhost:3000/v2/repository/index',
      'localhost:3000/v2/repository/models/linear/load',
      'localhost:3000/v2/models/linear/infer',
      'localhost:3000/v2/repository/models/linear/load',
      'localhost:3000/v2/repository/models/linear/unload',
      'localhost:3000/v2/models/linear/infer',
      'localhost:3000/v2/repository/models/linear/load',
    ]);
    const answers: string[] = [];
    for (const example of examples) {
      const { status, body } = await runExample(example, url);
      answers.push(`${status} ${body.slice(0, 120)}`);
      expect({ command: example.command, status }).toEqual({
        command: example.command,
        status: example.status,
      });
      if (example.firstKey) expect(body.startsWith(`{"${example.firstKey}"`)).toBe(true);
    }
    // The index, as the comment shows it: iris loaded (LOAD_MODELS), the other models unloaded.
    expect(answers[0]).toMatch(
      /^200 \[\{"name":"digits","version":"1","state":"UNAVAILABLE","reason":"unloaded"\}/,
    );
    expect(answers.slice(1, 5).map((a) => a.split(' ')[0])).toEqual(['200', '200', '200', '200']);
  });
});
