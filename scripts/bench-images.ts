/**
 * npm run bench:images: the same 28x28 digits sent to the shipped `digits` model three ways —
 * as JSON numbers, as a PNG in base64 JSON ({"b64": ...}), and as a PNG file upload (multipart) —
 * against the built server (node dist/main.js) on a free loopback port, with autocannon,
 * bounded in time. For each: req/s, latency p50/p99, and CPU per request of the server's main
 * thread (the one that serves every request) and of the whole process (with the inference
 * threads and libuv's threadpool, where sharp decodes), read from /proc before and after each run.
 *
 *   BENCH_SECONDS      seconds per measurement (default 5, after 1 s of warm-up)
 *   BENCH_CONNECTIONS  concurrent connections (default 8)
 */
import autocannon from 'autocannon';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { ROOT, startModelServer } from './lib/server';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 8);
const DIGIT = join(ROOT, 'test', 'fixtures', 'digits', '7.png');
const BOUNDARY = 'bench-images-boundary';
// Linux reports thread CPU time in clock ticks; USER_HZ is 100 on every mainstream kernel.
const TICK_MS = 10;

interface Kind {
  name: string;
  contentType: string;
  body: Buffer;
}

/** utime + stime, in ms, of one thread (`task`) or the whole process, from /proc. */
function cpuMs(pid: number, task?: number): number {
  const path = task === undefined ? `/proc/${pid}/stat` : `/proc/${pid}/task/${task}/stat`;
  // Fields after the command name (which may hold spaces) start at its closing parenthesis.
  const fields = readFileSync(path, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) * TICK_MS;
}

async function kinds(): Promise<Kind[]> {
  const png = readFileSync(DIGIT);
  // The exact tensor the image path builds (scale [0, 1] on the decoded bytes), as JSON numbers.
  const { data } = await sharp(png)
    .toColourspace('b-w')
    .raw()
    .toBuffer({ resolveWithObject: true });
  const rows = Array.from({ length: 28 }, (_, y) =>
    Array.from({ length: 28 }, (_, x) => [data[y * 28 + x] / 255]),
  );
  const json = (body: object): Kind['body'] => Buffer.from(JSON.stringify(body));
  const multipart = Buffer.concat([
    Buffer.from(
      `--${BOUNDARY}\r\nContent-Disposition: form-data; name="model"\r\n\r\ndigits\r\n` +
        `--${BOUNDARY}\r\nContent-Disposition: form-data; name="image"; filename="7.png"\r\n` +
        'Content-Type: image/png\r\n\r\n',
    ),
    png,
    Buffer.from(`\r\n--${BOUNDARY}--\r\n`),
  ]);
  return [
    {
      name: 'JSON numbers',
      contentType: 'application/json',
      body: json({ model: 'digits', instances: [rows] }),
    },
    {
      name: 'PNG as b64 JSON',
      contentType: 'application/json',
      body: json({ model: 'digits', instances: [{ b64: png.toString('base64') }] }),
    },
    {
      name: 'PNG multipart',
      contentType: `multipart/form-data; boundary=${BOUNDARY}`,
      body: multipart,
    },
  ];
}

function drive(url: string, kind: Kind, seconds: number) {
  return autocannon({
    url: `${url}/predict`,
    method: 'POST',
    headers: { 'content-type': kind.contentType },
    body: kind.body,
    connections: CONNECTIONS,
    duration: seconds,
  });
}

async function main(): Promise<void> {
  // Default logging (one JSON line per request), as in production: every row pays the same.
  const server = await startModelServer();
  const pid = server.child.pid!;
  try {
    console.log(
      `digits model, one 28x28 digit per request, ${CONNECTIONS} connections, ${SECONDS} s each (${server.url})\n`,
    );
    const header = [
      'request',
      'body bytes',
      'req/s',
      'p50 ms',
      'p99 ms',
      'main-thread CPU ms/req',
      'process CPU ms/req',
      'failed',
    ];
    const rows: string[][] = [];
    for (const kind of await kinds()) {
      await drive(server.url, kind, 1); // warm-up
      const [main0, all0] = [cpuMs(pid, pid), cpuMs(pid)];
      const result = await drive(server.url, kind, SECONDS);
      const [main1, all1] = [cpuMs(pid, pid), cpuMs(pid)];
      const count = result.requests.total;
      rows.push([
        kind.name,
        String(kind.body.length),
        result.requests.average.toFixed(0),
        String(result.latency.p50),
        String(result.latency.p99),
        ((main1 - main0) / count).toFixed(3),
        ((all1 - all0) / count).toFixed(3),
        String(result.non2xx + result.errors + result.timeouts),
      ]);
    }
    const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
    for (const row of [header, ...rows]) {
      console.log(row.map((cell, i) => cell.padEnd(widths[i])).join('  '));
    }
  } finally {
    await server.stop();
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
