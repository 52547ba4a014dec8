import { NestExpressApplication } from '@nestjs/platform-express';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeTritonRepository } from '../scripts/lib/triton-repository';
import { type ExampleAnswer, pageExamples, runExample } from './utils/doc-examples';
import { REPO_ROOT } from './utils/doc-links';
import { makeRepository, removeRepository } from './utils/fixtures';
import { listenOnLoopback } from './production/utils/http';
import { closeApp, createTestApp } from './utils/test-app';

const PAGE = 'docs/triton.md';
const text = readFileSync(join(REPO_ROOT, PAGE), 'utf8');
const isWalkthrough = (block: string) => block.includes('/tmp/triton-models');
/** `localhost:3000/v2/...`: the address a command calls. */
const pathOf = (command: string) => command.split(' ').find((w) => w.startsWith('localhost'))!;

/**
 * docs/triton.md's walkthrough as a new user runs it: the repository its first line writes
 * (written here by the same script into a temporary folder), served with only MODEL_DIR set, and
 * every curl command run as written, answering the status and the first key its comment shows.
 * The answers a Triton client checks are then compared in full.
 */
describe('Coming from Triton: docs/triton.md (e2e)', () => {
  let app: NestExpressApplication;
  let url: string;
  let root: string;
  const examples = pageExamples(PAGE, text, isWalkthrough);
  const answers = new Map<string, ExampleAnswer>();

  beforeAll(async () => {
    expect(text).toContain('npx ts-node scripts/lib/triton-repository.ts /tmp/triton-models');
    root = await makeRepository({});
    writeTritonRepository(root);
    app = await createTestApp({ MODEL_DIR: root });
    url = await listenOnLoopback(app);
  }, 60_000);
  afterAll(async () => {
    await closeApp(app);
    removeRepository(root);
  });

  it('should answer every command with the status and the JSON its comment shows', async () => {
    expect(examples.map((e) => pathOf(e.command))).toEqual([
      'localhost:3000/v2/models/simple/infer',
      'localhost:3000/v2/models/simple_string/infer',
      'localhost:3000/v2/models/simple/config',
      'localhost:3000/v2/models/simple/stats',
      'localhost:3000/v2/repository/index',
      'localhost:3000/v2/models/wrong_model_name/infer',
    ]);
    for (const example of examples) {
      const { status, body } = await runExample(example, url);
      answers.set(pathOf(example.command), { status, body });
      expect({ command: example.command, status }).toEqual({
        command: example.command,
        status: example.status,
      });
      if (example.firstKey) expect(body.startsWith(`{"${example.firstKey}"`)).toBe(true);
    }
  });

  const answer = (path: string) => JSON.parse(answers.get(`localhost:3000${path}`)!.body);
  const counting = Array.from({ length: 16 }, (_, i) => i);

  it('should add and subtract as Triton simple and simple_string examples do', () => {
    const sum = counting.map((i) => i + 1);
    const difference = counting.map((i) => i - 1);
    expect(answer('/v2/models/simple/infer').outputs).toEqual([
      { name: 'OUTPUT0', shape: [1, 16], datatype: 'INT32', data: sum },
      { name: 'OUTPUT1', shape: [1, 16], datatype: 'INT32', data: difference },
    ]);
    expect(answer('/v2/models/simple_string/infer').outputs).toEqual([
      { name: 'OUTPUT0', shape: [1, 16], datatype: 'BYTES', data: sum.map(String) },
      { name: 'OUTPUT1', shape: [1, 16], datatype: 'BYTES', data: difference.map(String) },
    ]);
  });

  it("should show simple's config.pbtxt as written, completed, and its one request in the statistics", () => {
    const config = answer('/v2/models/simple/config');
    expect(config).toMatchObject({
      name: 'simple',
      platform: 'onnxruntime_onnx',
      max_batch_size: 8,
      input: [
        { name: 'INPUT0', data_type: 'TYPE_INT32', dims: [16] },
        { name: 'INPUT1', data_type: 'TYPE_INT32', dims: [16] },
      ],
    });
    // Triton's simple has no dynamic_batching: its requests are not merged.
    expect(config.dynamic_batching).toBeUndefined();
    const [stats] = answer('/v2/models/simple/stats').model_stats;
    expect(stats).toMatchObject({
      name: 'simple',
      version: '1',
      inference_count: 1,
      execution_count: 1,
      inference_stats: { success: { count: 1 }, fail: { count: 0 } },
    });
  });

  it('should list every model of the repository as READY, and speak Triton about an unknown one', () => {
    expect(answer('/v2/repository/index')).toEqual(
      [
        'nobatch',
        'reshape',
        'simple',
        'simple_autocomplete',
        'simple_identity',
        'simple_string',
      ].map((name) => ({ name, version: '1', state: 'READY', reason: '' })),
    );
    expect(answer('/v2/models/wrong_model_name/infer').error).toMatch(
      /^Request for unknown model: 'wrong_model_name' is not found; available models: nobatch, reshape, simple/,
    );
  });
});
