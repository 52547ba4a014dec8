import type { NestExpressApplication } from '@nestjs/platform-express';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '../utils/doc-links';
import { freePort } from '../utils/grpc';
import { closeApp, createTestApp } from '../utils/test-app';

/** One client command of a page and the JSON its comment says the answer holds. */
interface Example {
  page: string;
  command: string;
  expected: unknown;
}

function examples(page = 'docs/grpc.md'): Example[] {
  const text = readFileSync(join(REPO_ROOT, page), 'utf8');
  const lines = [...text.matchAll(/```bash\n([\s\S]*?)```/g)].flatMap((m) => m[1].split('\n'));
  return lines.flatMap((line, i) =>
    line.startsWith('npx ts-node -T scripts/grpc-client.ts ')
      ? [{ page, command: line, expected: JSON.parse(lines[i + 1].replace(/^# /, '')) }]
      : [],
  );
}

/**
 * The examples of docs/grpc.md and of README.md's gRPC section (which readme-examples leaves
 * to this test: they need the gRPC port), run as written (the port aside) against the real app.
 */
describe('docs/grpc.md and README.md gRPC examples (e2e)', () => {
  let app: NestExpressApplication;
  let port: number;

  beforeAll(async () => {
    port = await freePort();
    app = await createTestApp({ GRPC_PORT: String(port) });
  });
  afterAll(() => closeApp(app));

  it('should find the examples: ModelInfer typed and raw, health, reflection', () => {
    const text = examples()
      .map((e) => e.command)
      .join('\n');
    for (const needle of [
      'ModelInfer',
      'raw_input_contents',
      'fp32_contents',
      ' health ',
      ' list',
    ]) {
      expect(text).toContain(needle);
    }
  });

  it("should find README.md's examples: ServerReady and a ModelInfer", () => {
    const methods = examples('README.md').map((e) => e.command.split(' ')[5]);
    expect(methods).toEqual(expect.arrayContaining(['ServerReady', 'ModelInfer']));
  });

  it.each(
    [...examples(), ...examples('README.md')].map(
      (e) => [e.page, e.command.split(' ')[5], e] as const,
    ),
  )(
    '%s: %s should answer what its comment shows',
    async (_page, _method, example) => {
      const command = example.command.replace('localhost:8001', `127.0.0.1:${port}`);
      const { stdout, code, stderr } = await new Promise<{
        stdout: string;
        stderr: string;
        code: number;
      }>((resolve) =>
        execFile('bash', ['-c', command], { cwd: REPO_ROOT, timeout: 60_000 }, (error, out, err) =>
          resolve({ stdout: out, stderr: err, code: error ? Number(error.code ?? 1) : 0 }),
        ),
      );
      expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
      expect(JSON.parse(stdout)).toMatchObject(example.expected as object);
    },
    90_000,
  );
});
