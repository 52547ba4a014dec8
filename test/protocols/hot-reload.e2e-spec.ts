import { NestExpressApplication } from '@nestjs/platform-express';
import { cpSync, mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { closeApp, createTestApp, SHIPPED_MODELS } from '../utils/test-app';
import { writeScaler } from './protocol-fixtures';

/**
 * Hot reload (MODEL_POLL_SECONDS) against a real server on loopback: versions are dropped into a
 * temporary repository while a bounded load of concurrent requests runs, and not one may fail.
 */

const POLL_SECONDS = '0.1';

/** Writes a version folder under a temporary name, then renames it in: the watcher never sees half of it. */
async function dropVersion(
  root: string,
  model: string,
  version: number,
  write: (dir: string) => void | Promise<void>,
): Promise<void> {
  const staging = join(root, model, `.incoming-${version}`);
  await write(staging);
  renameSync(staging, join(root, model, String(version)));
}
const copyOf = (shipped: string) => (dir: string) =>
  cpSync(join(SHIPPED_MODELS, shipped), dir, { recursive: true });

/** Polls `check` until it returns a value (not undefined), at most `ms`. */
async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined>,
  ms = 15000,
): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`Timed out after ${ms} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

interface LoadResult {
  total: number;
  failures: string[];
  /** When each model version first answered (ms since epoch). */
  firstSeen: Map<string, number>;
  lastVersion?: string;
}

const post = (url: string, body: object) =>
  fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });

/**
 * One request of the load: `i` even -> V2 infer, odd -> TF Serving predict, on the latest
 * version of `model`. Returns the version that answered when the protocol says (V2); throws on
 * any failure, or when `check` finds the answer wrong.
 */
type Request = (base: string, i: number) => Promise<string | undefined>;

/** `workers` concurrent request loops until stop(), `maxRequests` or `maxMs`: bounded in count and time. */
function startLoad(
  base: string,
  request: Request,
  workers = 8,
  maxRequests = 20000,
  maxMs = 30000,
) {
  const result: LoadResult = { total: 0, failures: [], firstSeen: new Map() };
  const started = Date.now();
  let stopped = false;
  const loop = async (worker: number) => {
    for (
      let i = worker;
      !stopped && result.total < maxRequests && Date.now() - started < maxMs;
      i++
    ) {
      result.total++;
      try {
        const version = await request(base, i);
        if (version === undefined) continue;
        result.lastVersion = version;
        if (!result.firstSeen.has(version)) result.firstSeen.set(version, Date.now());
      } catch (error) {
        result.failures.push((error as Error).message);
      }
    }
  };
  const running = Promise.all(Array.from({ length: workers }, (_, w) => loop(w)));
  return {
    result,
    stop: async () => {
      stopped = true;
      await running;
      return result;
    },
  };
}

/** Rows [r, 1] for r < ROWS: scaler version f answers [r * f, 10 * f] for each. */
const ROWS = 16;
const scalerRows = Array.from({ length: ROWS }, (_, r) => [r, 1]);
const scaledBy = (rows: number[][]) => {
  const factor = rows[0]?.[1] / 10;
  const consistent =
    rows.length === ROWS && rows.every(([a, b], r) => a === r * factor && b === 10 * factor);
  return consistent ? factor : undefined;
};

/** Each request runs 16 chunks of the fixed-batch scaler, awaiting between them. */
const scalerRequest: Request = async (base, i) => {
  if (i % 2 === 0) {
    const res = await post(`${base}/v2/models/scaler/infer`, {
      inputs: [{ name: 'x', shape: [ROWS, 2], datatype: 'FP32', data: scalerRows.flat() }],
    });
    const body = (await res.json()) as { model_version?: string; outputs?: { data: number[] }[] };
    const data = body.outputs?.[0]?.data ?? [];
    const factor = scaledBy(Array.from({ length: ROWS }, (_, r) => data.slice(2 * r, 2 * r + 2)));
    if (res.status !== 200 || factor === undefined || String(factor) !== body.model_version) {
      throw new Error(`V2 ${res.status} ${JSON.stringify(body).slice(0, 300)}`);
    }
    return body.model_version;
  }
  const res = await post(`${base}/v1/models/scaler:predict`, { instances: scalerRows });
  const body = (await res.json()) as { predictions?: number[][] };
  if (res.status !== 200 || scaledBy(body.predictions ?? []) === undefined) {
    throw new Error(`TFS ${res.status} ${JSON.stringify(body).slice(0, 300)}`);
  }
  return undefined;
};

const ROW = [5.1, 3.5, 1.4, 0.2];
const irisRequest: Request = async (base, i) => {
  if (i % 2 === 0) {
    const res = await post(`${base}/v2/models/iris/infer`, {
      inputs: [{ name: 'features', shape: [1, 4], datatype: 'FP32', data: ROW }],
    });
    const body = (await res.json()) as { model_version?: string; outputs?: unknown[] };
    if (res.status !== 200 || !body.outputs)
      throw new Error(`V2 ${res.status} ${JSON.stringify(body)}`);
    return body.model_version;
  }
  const res = await post(`${base}/v1/models/iris:predict`, { instances: [ROW] });
  const body = (await res.json()) as { predictions?: number[][] };
  if (res.status !== 200 || body.predictions?.[0]?.length !== 3) {
    throw new Error(`TFS ${res.status} ${JSON.stringify(body)}`);
  }
  return undefined;
};

describe('Hot reload with MODEL_POLL_SECONDS (e2e, real HTTP on 127.0.0.1)', () => {
  let app: NestExpressApplication;
  let root: string;
  let base: string;
  const get = async (path: string) => {
    const res = await fetch(`${base}${path}`);
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };
  const versionsIn = async (model: string) =>
    ((await get(`/v1/models/${model}`)).body.model_version_status ?? []) as {
      version: string;
      state: string;
      status: { error_code: string; error_message: string };
    }[];

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'hot-reload-repo-'));
    for (const model of ['iris', 'scaler']) mkdirSync(join(root, model));
    await dropVersion(root, 'iris', 2, copyOf('iris/2'));
    await writeScaler(join(root, 'scaler', '1'), 1);
    app = await createTestApp({ MODEL_DIR: root, MODEL_POLL_SECONDS: POLL_SECONDS });
    await app.listen(0, '127.0.0.1');
    base = await app.getUrl();
    base = base.replace('[::1]', '127.0.0.1');
  });
  afterAll(async () => {
    await closeApp(app);
    rmSync(root, { recursive: true, force: true });
  });

  it('should swap in a new version under load with zero failed requests, then unload the old one', async () => {
    expect((await versionsIn('scaler')).map((v) => v.version)).toEqual(['1']);
    const load = startLoad(base, scalerRequest);
    await waitFor('the load to be under way on version 1', async () =>
      load.result.total >= 50 && load.result.firstSeen.has('1') ? true : undefined,
    );
    const dropped = Date.now();
    await dropVersion(root, 'scaler', 2, (dir) => writeScaler(dir, 2));
    const swapped = await waitFor('version 2 to answer', async () =>
      load.result.firstSeen.get('2'),
    );
    // policy latest: version 1 is superseded, drained and unloaded; then its folder goes too.
    await waitFor('version 1 to be unloaded', async () => {
      const versions = await versionsIn('scaler');
      return versions.length === 1 && versions[0].version === '2' ? true : undefined;
    });
    rmSync(join(root, 'scaler', '1'), { recursive: true });
    await new Promise((resolve) => setTimeout(resolve, 1000)); // more polls, still under load
    const result = await load.stop();

    console.log(
      `hot swap: ${result.total} requests (16-chunk inferences) by 8 concurrent clients, ${result.failures.length} failed; ` +
        `version 2 answered ${swapped - dropped} ms after its folder was renamed in (poll ${POLL_SECONDS} s)`,
    );
    expect(result.failures).toEqual([]);
    expect(result.total).toBeGreaterThan(100);
    expect([...result.firstSeen.keys()]).toEqual(['1', '2']);
    expect(result.lastVersion).toBe('2');
    expect((await get('/v2/models/scaler')).body.versions).toEqual(['2']);
    expect((await get('/v2/models/scaler/versions/1/ready')).status).toBe(404);
  }, 60000);

  it('should report a broken new version in status while the old version keeps serving', async () => {
    await dropVersion(root, 'iris', 3, (dir) => {
      mkdirSync(dir);
      writeFileSync(join(dir, 'model.json'), '{"modelTopology": {"node": [], "truncated');
    });
    const broken = await waitFor('version 3 to fail', async () =>
      (await versionsIn('iris')).find((v) => v.version === '3' && v.state === 'END'),
    );
    expect(broken.status.error_code).toBe('UNKNOWN');
    expect(broken.status.error_message).toMatch(
      /iris\/3\/model.json: model.json is not valid JSON/,
    );
    expect((await versionsIn('iris')).map((v) => [v.version, v.state])).toEqual([
      ['3', 'END'],
      ['2', 'AVAILABLE'],
    ]);

    const load = startLoad(base, irisRequest, 4, 400);
    const result = await load.stop();
    expect(result.failures).toEqual([]);
    expect([...result.firstSeen.keys()]).toEqual(['2']);
    const ready = await get('/v2/models/iris/versions/3/ready');
    expect(ready).toEqual({ status: 503, body: { name: 'iris', ready: false } });
    const pinned = await fetch(`${base}/v1/models/iris/versions/3:predict`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ instances: [ROW] }),
    });
    expect(pinned.status).toBe(404);
    expect(await pinned.json()).toEqual({
      error: expect.stringMatching(
        /Version 3 of model 'iris' is not available \(END: Failed to load/,
      ),
    });
  }, 30000);

  it('should retry a failed version once its files change, and swap it in', async () => {
    rmSync(join(root, 'iris', '3'), { recursive: true });
    await dropVersion(root, 'iris', 3, copyOf('iris/1'));
    await waitFor('version 3 to serve', async () => {
      const versions = await versionsIn('iris');
      return versions.length === 1 &&
        versions[0].version === '3' &&
        versions[0].state === 'AVAILABLE'
        ? true
        : undefined;
    });
    expect((await get('/v2/models/iris')).body.versions).toEqual(['3']);
  }, 30000);

  it('should load a model dropped into the repository and unload a removed one', async () => {
    mkdirSync(join(root, 'linear'));
    await dropVersion(root, 'linear', 1, copyOf('linear/1'));
    await waitFor('linear to load', async () =>
      (await get('/v2/models/linear/ready')).status === 200 ? true : undefined,
    );
    rmSync(join(root, 'linear'), { recursive: true });
    await waitFor('linear to be unloaded', async () =>
      (await get('/v1/models/linear')).status === 404 ? true : undefined,
    );
    expect((await get('/v2/models/iris/ready')).body).toEqual({ name: 'iris', ready: true });
  }, 30000);
});
