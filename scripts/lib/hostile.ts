import { request as httpRequest } from 'node:http';
import sharp from 'sharp';

/**
 * Hostile clients for the soak (issue 15): each loops one kind of abuse on its own connections
 * until stopped, and records what the server answered. The soak runs them beside its normal
 * traffic and checks both: the hostile ones got one of the statuses the issue allows, the normal
 * ones exactly theirs.
 */

/** What one attempt ended with: an HTTP status, the connection cut by the server, or still open when stopped. */
type Outcome = { status: number; bytes: number } | 'cut' | 'open';

export interface HostileReport {
  name: string;
  /** Attempts that ended (answered or cut), by outcome ("408", "cut", ...). */
  outcomes: Map<string, number>;
  /** Outcomes outside `accepted`. */
  unexpected: number;
  /** Attempts still running when the soak stopped (a slow upload mid-trickle). */
  open: number;
  /** Largest response body, in bytes (an error echoing 100,000 keys shows here). */
  maxBodyBytes: number;
  accepted: string[];
}

interface Attempt {
  path: string;
  headers: Record<string, string | number>;
  /** Sent at once, or one byte per `trickleMs` (a slow upload). */
  body: Buffer;
  trickleMs?: number;
}

/** One request on its own connection; `stop` destroys it (outcome 'open'). */
function attempt(url: string, a: Attempt, stop: AbortSignal): Promise<Outcome> {
  return new Promise((resolve) => {
    const target = new URL(a.path, url);
    const req = httpRequest({
      host: target.hostname,
      port: target.port,
      path: target.pathname,
      method: 'POST',
      agent: false,
      headers: a.headers,
    });
    let timer: NodeJS.Timeout | undefined = undefined;
    let settled = false;
    const settle = (outcome: Outcome) => {
      if (settled) return;
      settled = true;
      clearInterval(timer);
      stop.removeEventListener('abort', onStop);
      resolve(outcome);
    };
    const onStop = () => {
      settle('open');
      req.destroy();
    };
    stop.addEventListener('abort', onStop, { once: true });
    let responded = false;
    req.on('response', (res) => {
      responded = true;
      let bytes = 0;
      res.on('data', (chunk: Buffer) => (bytes += chunk.length));
      const answered = () => settle({ status: res.statusCode ?? 0, bytes });
      res.on('end', answered);
      res.on('close', answered);
    });
    // A reset or a close before any answer: the server cut the connection. After an answer, the
    // server closing (408 comes with Connection: close) or a write failing is no news.
    const cut = () => {
      if (!responded) settle('cut');
    };
    req.on('error', cut);
    req.on('close', cut);
    if (a.trickleMs === undefined) {
      req.end(a.body);
      return;
    }
    req.flushHeaders();
    let sent = 0;
    timer = setInterval(() => {
      if (sent < a.body.length && req.writable) req.write(a.body.subarray(sent, ++sent));
    }, a.trickleMs);
  });
}

/** Runs `connections` loops of `make()` attempts until `stop` aborts. */
async function loop(
  url: string,
  name: string,
  accepted: string[],
  connections: number,
  make: () => Attempt,
  stop: AbortSignal,
): Promise<HostileReport> {
  const report: HostileReport = {
    name,
    outcomes: new Map(),
    unexpected: 0,
    open: 0,
    maxBodyBytes: 0,
    accepted,
  };
  const one = async () => {
    while (!stop.aborted) {
      const outcome = await attempt(url, make(), stop);
      if (outcome === 'open') {
        report.open++;
        break;
      }
      const key = outcome === 'cut' ? 'cut' : String(outcome.status);
      if (outcome !== 'cut') report.maxBodyBytes = Math.max(report.maxBodyBytes, outcome.bytes);
      report.outcomes.set(key, (report.outcomes.get(key) ?? 0) + 1);
      if (!accepted.includes(key)) report.unexpected++;
    }
  };
  await Promise.all(Array.from({ length: connections }, one));
  return report;
}

/**
 * Slow uploads: a complete `POST /predict` header announcing 1,000 bytes, then one body byte per
 * second (the issue's attack). The server must answer 408 (REQUEST_TIMEOUT_MS, or
 * BODY_READ_TIMEOUT_MS where it exists) or cut the connection; each loop then starts another.
 */
export function slowUploads(url: string, connections: number, stop: AbortSignal) {
  const body = Buffer.alloc(1000, ' ');
  return loop(
    url,
    'slow uploads',
    ['408', 'cut'],
    connections,
    () => ({
      path: '/predict',
      headers: { 'content-type': 'application/json', 'content-length': body.length },
      body,
      trickleMs: 1000,
    }),
    stop,
  );
}

/** A key flood: a valid `/predict` body plus `keys` unknown keys (a 400, at the first of them where the server stops there). */
export function keyFloods(url: string, keys: number, stop: AbortSignal) {
  const extra = Array.from({ length: keys }, (_, i) => `"k${i}":0`).join(',');
  const body = Buffer.from(`{"model":"iris","instances":[[5.1,3.5,1.4,0.2]],${extra}}`);
  return loop(
    url,
    `key floods (${keys} unknown keys, ${(body.length / 1e6).toFixed(1)} MB)`,
    ['400'],
    1,
    () => ({
      path: '/predict',
      headers: { 'content-type': 'application/json', 'content-length': body.length },
      body,
    }),
    stop,
  );
}

/** A multipart/form-data body: `model`, then each file in the field `image`. */
export function multipartImages(model: string, files: Buffer[]): { body: Buffer; type: string } {
  const boundary = '----soak-boundary';
  const parts = [
    Buffer.from(
      `--${boundary}\r\nContent-Disposition: form-data; name="model"\r\n\r\n${model}\r\n`,
    ),
    ...files.flatMap((file, i) => [
      Buffer.from(
        `--${boundary}\r\nContent-Disposition: form-data; name="image"; filename="${i}.png"\r\nContent-Type: image/png\r\n\r\n`,
      ),
      file,
      Buffer.from('\r\n'),
    ]),
    Buffer.from(`--${boundary}--\r\n`),
  ];
  return { body: Buffer.concat(parts), type: `multipart/form-data; boundary=${boundary}` };
}

/**
 * Image budget uploads: 32 black interlaced 5000x5000 PNGs (73 kB each, 25 megapixels each once
 * decoded) in one multipart upload to the digits model: a 413 from IMAGE_MAX_TOTAL_PIXELS, read
 * from the headers, before any decode.
 */
export async function imageBudgetUploads(url: string, stop: AbortSignal) {
  const png = await sharp({
    create: { width: 5000, height: 5000, channels: 3, background: '#000' },
  })
    .png({ progressive: true })
    .toBuffer();
  const { body, type } = multipartImages(
    'digits',
    Array.from({ length: 32 }, () => png),
  );
  return loop(
    url,
    `image budget uploads (32 interlaced 5000x5000 PNGs, ${(body.length / 1e6).toFixed(1)} MB)`,
    ['413'],
    1,
    () => ({
      path: '/predict',
      headers: { 'content-type': type, 'content-length': body.length },
      body,
    }),
    stop,
  );
}

/** One line per hostile client for the soak's summary. */
export function describeHostile(report: HostileReport): string {
  const outcomes =
    [...report.outcomes.entries()].map(([k, n]) => `${k} x${n}`).join(', ') || 'none';
  return `${report.name}: ${outcomes}${report.open > 0 ? `, open at the end x${report.open}` : ''} (accepted ${report.accepted.join('/')}; largest body ${(report.maxBodyBytes / 1024).toFixed(1)} kB)`;
}
