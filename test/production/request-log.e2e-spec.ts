import { request as httpRequest } from 'node:http';
import { freePort, jsonLines, RunningServer, runServer } from './utils/server';
import { waitFor } from './utils/http';

interface Answer {
  status: number;
  requestId: string | undefined;
}

/** A request on a fresh connection, with the headers given. */
function send(
  url: string,
  path: string,
  options: { body?: string; headers?: Record<string, string>; method?: string } = {},
) {
  return new Promise<Answer>((resolve, reject) => {
    const target = new URL(path, url);
    const req = httpRequest(
      {
        host: target.hostname,
        port: target.port,
        path: target.pathname,
        method: options.method ?? 'POST',
        agent: false,
        headers: options.headers,
      },
      (res) => {
        res.resume();
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            requestId: res.headers['x-request-id'] as string | undefined,
          }),
        );
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
}

const JSON_HEADERS = { 'content-type': 'application/json' };
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
/** A value that appears only in the tensor payload: it must never reach the logs. */
const MARKER = 5.123456789;

/** Request logs of the production entry: one JSON line per request, from its stdout. */
describe('Request logs and request ids (node dist/main.js)', () => {
  let server: RunningServer;
  beforeAll(async () => {
    server = await runServer({ LOG_LEVEL: 'info', MODEL_VERSION_POLICY: 'all' });
  });
  afterAll(() => server.stop());

  const logLineOf = async (requestId: string) => {
    let line: Record<string, unknown> | undefined;
    await waitFor(() => {
      line = jsonLines(server.output()).find(
        (l) => l.reqId === requestId && l.msg?.toString().startsWith('request'),
      );
      return line !== undefined;
    }, 3000);
    return line!;
  };

  it('should reuse and echo an incoming X-Request-Id and log one line with method, route, model, version, status, duration', async () => {
    const body = JSON.stringify({ model: 'iris', instances: [[MARKER, 3.5, 1.4, 0.2]] });
    const res = await send(server.url, '/predict', {
      body,
      headers: { ...JSON_HEADERS, 'X-Request-Id': 'client-42.a' },
    });
    expect(res).toEqual({ status: 200, requestId: 'client-42.a' });
    const line = await logLineOf('client-42.a');
    expect(line).toMatchObject({
      level: 30,
      method: 'POST',
      route: '/predict',
      model: 'iris',
      version: '2',
      status: 200,
    });
    expect(typeof line.durationMs).toBe('number');
    expect(jsonLines(server.output()).filter((l) => l.reqId === 'client-42.a')).toHaveLength(1);
  });

  it('should generate a request id when none (or an unsafe one) is sent', async () => {
    const plain = await send(server.url, '/models/iris', { method: 'GET' });
    expect(plain.requestId).toMatch(UUID);
    expect(await logLineOf(plain.requestId!)).toMatchObject({
      method: 'GET',
      route: '/models/:name',
      status: 200,
    });

    const unsafe = await send(server.url, '/health/live', {
      method: 'GET',
      headers: { 'X-Request-Id': `${'x'.repeat(200)}` },
    });
    expect(unsafe.requestId).toMatch(UUID);
    const forged = await send(server.url, '/health/live', {
      method: 'GET',
      headers: { 'X-Request-Id': 'a","level":60,"x":"' },
    });
    expect(forged.requestId).toMatch(UUID);
  });

  it('should log requests refused before routing, with their route, and unknown paths as "unmatched"', async () => {
    const bad = await send(server.url, '/predict', { body: '{"model":', headers: JSON_HEADERS });
    expect(bad.status).toBe(400);
    expect(await logLineOf(bad.requestId!)).toMatchObject({ route: '/predict', status: 400 });
    const missing = await send(server.url, '/does/not/exist', { method: 'GET' });
    expect(await logLineOf(missing.requestId!)).toMatchObject({ route: 'unmatched', status: 404 });
  });

  it('should never log tensor payloads, headers or bodies', async () => {
    const output = server.output();
    expect(output).not.toContain(String(MARKER));
    expect(output).not.toContain('instances');
    // Every line is JSON (pino), Nest's own boot messages included.
    expect(
      output
        .trim()
        .split('\n')
        .every((line) => line.startsWith('{')),
    ).toBe(true);
  });
});

describe('LOG_LEVEL (node dist/main.js)', () => {
  it('should not log requests at LOG_LEVEL=warn', async () => {
    const server = await runServer({ LOG_LEVEL: 'warn', PORT: String(await freePort()) });
    try {
      const res = await send(server.url, '/models', { method: 'GET' });
      expect(res.status).toBe(200);
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(server.output()).not.toMatch(/request completed/);
      expect(server.output()).not.toMatch(/Listening on/);
    } finally {
      server.stop();
    }
  });
});
