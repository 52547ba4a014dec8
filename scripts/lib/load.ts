import autocannon from 'autocannon';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const WRK = '/usr/bin/wrk';

export interface LoadOptions {
  url: string;
  headers: Record<string, string>;
  body: string | Buffer;
  connections: number;
  seconds: number;
  /** Every `every`-th request sends `body` instead (wrk only): a share of bad requests. */
  mixed?: { body: string | Buffer; every: number };
}

export interface LoadResult {
  rps: number;
  p50: number;
  p99: number;
  /** Non-2xx answers, socket errors and timeouts. */
  failed: number;
}

/**
 * Which load generator drives the benchmarks. On a 2-core machine the generator shares the cores
 * with the server: autocannon (JavaScript) spends about as much CPU per request as a small-model
 * request costs the server, so it caps what is measured; wrk (C, Debian's `wrk`) spends a
 * fraction of that. wrk is used where it is installed, autocannon otherwise; the output says which.
 */
export const LOAD_GENERATOR = process.env.BENCH_LOAD ?? (existsSync(WRK) ? 'wrk' : 'autocannon');

/** POSTs the same body over `connections` keep-alive connections for `seconds`. */
export function postLoad(options: LoadOptions): Promise<LoadResult> {
  return LOAD_GENERATOR === 'wrk' ? wrk(options) : autocannonLoad(options);
}

async function autocannonLoad(options: LoadOptions): Promise<LoadResult> {
  if (options.mixed) throw new Error('a mixed load needs wrk (BENCH_LOAD=wrk)');
  const result = await autocannon({
    url: options.url,
    method: 'POST',
    headers: options.headers,
    body: options.body,
    connections: options.connections,
    duration: options.seconds,
  });
  return {
    rps: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    failed: result.non2xx + result.errors + result.timeouts,
  };
}

/** wrk with a generated Lua script: the body is read from a file (binary bodies survive), the
 * summary printed as one line of numbers by wrk's done() hook. */
async function wrk(options: LoadOptions): Promise<LoadResult> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-wrk-'));
  try {
    const bodyFile = join(dir, 'body');
    writeFileSync(bodyFile, options.body);
    const headers = Object.entries(options.headers)
      .map(([name, value]) => `wrk.headers[${JSON.stringify(name)}] = ${JSON.stringify(value)}`)
      .join('\n');
    const script = join(dir, 'post.lua');
    let mix = '';
    if (options.mixed) {
      const otherFile = join(dir, 'other');
      writeFileSync(otherFile, options.mixed.body);
      mix = `local g = assert(io.open(${JSON.stringify(otherFile)}, "rb"))
local other = g:read("*a")
g:close()
local sent = 0
request = function()
  sent = sent + 1
  if sent % ${options.mixed.every} == 0 then return wrk.format(nil, nil, nil, other) end
  return wrk.format()
end
`;
    }
    writeFileSync(
      script,
      `local f = assert(io.open(${JSON.stringify(bodyFile)}, "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
${headers}
${mix}done = function(s, latency)
  local e = s.errors
  io.write(string.format("WRK %d %d %d %d %d\\n", s.requests, s.duration, latency:percentile(50),
    latency:percentile(99), e.status + e.connect + e.read + e.write + e.timeout))
end
`,
    );
    const args = ['-t1', `-c${options.connections}`, `-d${options.seconds}s`, '--timeout', '30s'];
    const stdout = await new Promise<string>((resolve, reject) =>
      execFile(WRK, [...args, '-s', script, options.url], (error, out) =>
        error ? reject(error) : resolve(out),
      ),
    );
    const line = /^WRK (\d+) (\d+) (\d+) (\d+) (\d+)$/m.exec(stdout);
    if (!line) throw new Error(`wrk printed no summary:\n${stdout}`);
    const [requests, micros, p50, p99, failed] = line.slice(1).map(Number);
    return { rps: requests / (micros / 1e6), p50: p50 / 1000, p99: p99 / 1000, failed };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
