import { NestExpressApplication } from '@nestjs/platform-express';
import { execFile, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pageExamples, type Example } from './utils/doc-examples';
import { docPages, REPO_ROOT } from './utils/doc-links';
import { closeApp, createTestApp } from './utils/test-app';

/** The commands of README.md and docs/*.md that run against the shipped models (pageExamples). */
function readmeExamples(): Example[] {
  return docPages().flatMap((page) =>
    pageExamples(page, readFileSync(join(REPO_ROOT, page), 'utf8')),
  );
}

const hasCurl = spawnSync('curl', ['--version']).status === 0;

/**
 * Where curl is not installed, a stand-in for the options the README uses (-s, -H, -d,
 * --data-binary @file, -F name=value / name=@file, -D, -o, -w), sending what curl sends:
 * `Accept: *\/*`, for a body `Content-Type: application/x-www-form-urlencoded` unless a -H names
 * another, and for -F a multipart/form-data body with the file's type guessed from its extension.
 */
const CURL_STAND_IN = `
const http = require('node:http'), fs = require('node:fs');
const args = process.argv.slice(2);
const headers = { 'user-agent': 'curl/8', accept: '*/*' };
let url, data, dump, out, format = '';
const form = [];
for (let i = 0; i < args.length; i++) {
  const a = args[i];
  if (a === '-H') { const h = args[++i], at = h.indexOf(':'); headers[h.slice(0, at).trim().toLowerCase()] = h.slice(at + 1).trim(); }
  else if (a === '-d' || a === '--data-binary') { const v = args[++i]; data = v.startsWith('@') ? fs.readFileSync(v.slice(1)) : Buffer.from(v); }
  else if (a === '-F') form.push(args[++i]);
  else if (a === '-D') dump = args[++i];
  else if (a === '-o') out = args[++i];
  else if (a === '-w') format = args[++i];
  else if (a !== '-s') url = a;
}
if (form.length > 0) {
  const boundary = '------------------------standin' + Date.now();
  const types = { png: 'image/png', jpg: 'image/jpeg', jpeg: 'image/jpeg', webp: 'image/webp' };
  const parts = form.map((field) => {
    const at = field.indexOf('='), name = field.slice(0, at), value = field.slice(at + 1);
    if (!value.startsWith('@')) return Buffer.from('--' + boundary + '\\r\\nContent-Disposition: form-data; name="' + name + '"\\r\\n\\r\\n' + value + '\\r\\n');
    const file = value.slice(1), type = types[file.split('.').pop()] || 'application/octet-stream';
    const head = '--' + boundary + '\\r\\nContent-Disposition: form-data; name="' + name + '"; filename="' + file.split('/').pop() + '"\\r\\nContent-Type: ' + type + '\\r\\n\\r\\n';
    return Buffer.concat([Buffer.from(head), fs.readFileSync(file), Buffer.from('\\r\\n')]);
  });
  data = Buffer.concat([...parts, Buffer.from('--' + boundary + '--\\r\\n')]);
  headers['content-type'] = 'multipart/form-data; boundary=' + boundary;
}
if (data && !headers['content-type']) headers['content-type'] = 'application/x-www-form-urlencoded';
const req = http.request(new URL(url.includes('://') ? url : 'http://' + url), { method: data ? 'POST' : 'GET', headers }, (res) => {
  const chunks = [];
  res.on('data', (c) => chunks.push(c));
  res.on('end', () => {
    const body = Buffer.concat(chunks);
    if (dump) fs.writeFileSync(dump, 'HTTP/1.1 ' + res.statusCode + '\\r\\n' + Object.entries(res.headers).map(([k, v]) => k + ': ' + v + '\\r\\n').join(''));
    if (out) fs.writeFileSync(out, body); else process.stdout.write(body);
    process.stdout.write(format.replace('%{http_code}', String(res.statusCode)).replace(/\\\\n/g, '\\n'));
  });
});
req.end(data);
`;

/**
 * Runs every curl example of the README literally (and the node one-liners that prepare their
 * files), in order, against the real app on loopback: `localhost:3000` and `$INGRESS` point at
 * it, and nothing else in a command is changed. A curl wrapper prints the status after the body.
 * With curl installed they run twice: with curl, and with the stand-in (so it stays honest).
 */
describe('The README examples, run as written (e2e)', () => {
  let app: NestExpressApplication;
  let cwd: string;
  let port: number;
  const examples = readmeExamples();

  beforeAll(async () => {
    // Version 1 of iris is pinned by one example, which says it needs this policy.
    app = await createTestApp({ MODEL_VERSION_POLICY: 'all' });
    await app.listen(0, '127.0.0.1');
    port = (app.getHttpServer().address() as AddressInfo).port;
    cwd = mkdtempSync(join(tmpdir(), 'readme-'));
    // The image examples upload the committed digits by their path from the repository root.
    mkdirSync(join(cwd, 'test'));
    symlinkSync(join(__dirname, 'fixtures'), join(cwd, 'test', 'fixtures'));
  });
  afterAll(async () => {
    await closeApp(app);
    rmSync(cwd, { recursive: true, force: true });
  });

  it('should find the examples: /predict, /v1 and /v2 curls, the binary ones included', () => {
    const text = examples.map((e) => e.command).join('\n');
    for (const needle of ['/predict', ':predict', '/v2/models/iris/infer', 'Inference-Header']) {
      expect(text).toContain(needle);
    }
    expect(examples.filter((e) => e.command.startsWith('curl')).length).toBeGreaterThan(10);
  });

  it('should take examples from README.md and from the pages of docs/', () => {
    const pages = new Set(examples.map((e) => e.page));
    for (const page of ['README.md', 'docs/protocols.md', 'docs/images.md', 'docs/models.md']) {
      expect(pages).toContain(page);
    }
  });

  it('should say TF.js and ONNX where a newcomer first reads what the server is', async () => {
    const swagger = (await (await fetch(`http://127.0.0.1:${port}/docs-json`)).json()) as {
      info: { title: string; description: string };
    };
    const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as {
      description: string;
    };
    const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8').split('\n\n')[1];
    for (const text of [swagger.info.description, pkg.description, readme]) {
      expect(text.replace(/\*/g, '')).toMatch(/TensorFlow\.js and ONNX models/);
    }
  });

  /** Asynchronous: the app answering the requests runs in this very process. */
  const bash = (script: string) =>
    new Promise<{ status: number; stdout: string; stderr: string }>((resolve) => {
      const env = { ...process.env, INGRESS: `127.0.0.1:${port}` };
      execFile('bash', ['-c', script], { cwd, env, timeout: 20_000 }, (error, stdout, stderr) =>
        resolve({ status: error ? Number(error.code ?? 1) : 0, stdout, stderr }),
      );
    });

  const clients = hasCurl ? ['curl', 'stand-in'] : ['stand-in'];
  it.each(clients)(
    'should answer every example with the status and JSON its comment shows (%s)',
    async (client) => {
      writeFileSync(join(cwd, 'curl.js'), CURL_STAND_IN);
      const call = client === 'curl' ? 'command curl' : 'node curl.js';
      const failures: string[] = [];
      for (const example of examples) {
        const script = `curl() { ${call} -w '\\n%{http_code}\\n' "$@"; }\n${example.command.replaceAll('localhost:3000', `127.0.0.1:${port}`)}`;
        const run = await bash(script);
        const out = run.stdout.trimEnd().split('\n');
        if (example.command.startsWith('node')) {
          if (run.status !== 0)
            failures.push(
              `${example.page}: ${example.command}\n  -> exit ${run.status} ${run.stderr}`,
            );
          continue;
        }
        const status = Number(out.pop());
        const body = out.join('\n');
        const keyOk = !example.firstKey || body.startsWith(`{"${example.firstKey}"`);
        if (status !== example.status || !keyOk) {
          failures.push(
            `${example.page}: ${example.command}\n  -> ${status} ${body.slice(0, 200)} (expected ${example.status}${example.firstKey ? ` {"${example.firstKey}"...` : ''})`,
          );
        }
      }
      expect(failures).toEqual([]);
    },
    120_000,
  );
});
