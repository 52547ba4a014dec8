import { Logger } from '@nestjs/common';
import { NestExpressApplication } from '@nestjs/platform-express';
import {
  cpSync,
  mkdirSync,
  mkdtempSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
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
    const load = startLoad(base, scalerRequest, 8, 20000, 90000);
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
    // Counted, not timed: on a loaded machine one second may hold only a few requests.
    const afterRemoval = load.result.total;
    await waitFor(
      '100 more requests after the removal',
      async () => (load.result.total >= afterRemoval + 100 ? true : undefined),
      60000,
    );
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
  }, 150000);

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
        /Version 3 of model 'iris' is not available \(END: failed to load 'iris' version 3/,
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

/**
 * Hot reload per model folder and in place: each model folder stands on its own, symlinks are
 * followed the way Kubernetes mounts volumes and ConfigMaps, and a version whose files change is
 * reloaded and swapped in. Timing is driven by polling the server's status, never by sleeps.
 */
describe('Hot reload per model folder and in place (e2e, real HTTP on 127.0.0.1)', () => {
  let app: NestExpressApplication;
  let outside: string;
  let root: string;
  let base: string;
  const warn = jest.spyOn(Logger.prototype, 'warn');
  const status = async (path: string) => (await fetch(`${base}${path}`)).status;
  const servedVersions = async (model: string) => {
    const res = await fetch(`${base}/v2/models/${model}`);
    return res.status === 200 ? ((await res.json()) as { versions: string[] }).versions : [];
  };
  /** Waits until the model serves exactly `versions` (highest first). */
  const serving = (model: string, versions: string[]) =>
    waitFor(
      `${model} to serve versions ${versions.join(', ')}`,
      async () =>
        JSON.stringify(await servedVersions(model)) === JSON.stringify(versions) ? true : undefined,
      60000,
    );

  /** A linear model y = kernel * x + bias (the shipped one, its 8 bytes of weights rewritten). */
  const weightsOf = (dir: string) => join(dir, 'group1-shard1of1.bin');
  const linearBytes = (kernel: number, bias: number) =>
    Buffer.from(new Float32Array([kernel, bias]).buffer);
  const writeLinear = (dir: string, kernel: number, bias: number) => {
    cpSync(join(SHIPPED_MODELS, 'linear', '1'), dir, { recursive: true });
    writeFileSync(weightsOf(dir), linearBytes(kernel, bias));
  };
  /** y(3) by V2 (even i) or TF Serving (odd i): what the model answers right now. */
  const answer = async (model: string, i: number): Promise<number> => {
    if (i % 2 === 0) {
      const res = await post(`${base}/v2/models/${model}/infer`, {
        inputs: [{ name: 'x', shape: [1, 1], datatype: 'FP32', data: [3] }],
      });
      const body = (await res.json()) as { outputs?: { data: number[] }[] };
      if (res.status !== 200) throw new Error(`V2 ${res.status} ${JSON.stringify(body)}`);
      return body.outputs![0].data[0];
    }
    const res = await post(`${base}/v1/models/${model}:predict`, { instances: [[3]] });
    const body = (await res.json()) as { predictions?: number[][] };
    if (res.status !== 200) throw new Error(`TFS ${res.status} ${JSON.stringify(body)}`);
    return body.predictions![0][0];
  };

  beforeAll(async () => {
    outside = mkdtempSync(join(tmpdir(), 'hot-reload-volumes-'));
    root = join(outside, 'models');
    mkdirSync(root);
    mkdirSync(join(root, 'lost+found')); // an ext4 volume's root: boot must not stop at it
    cpSync(join(SHIPPED_MODELS, 'iris', '2'), join(root, 'iris', '2'), { recursive: true });
    writeLinear(join(root, 'inplace', '1'), 2, 1);

    // A ConfigMap-style mount: the model folder is a symlink, its files link into ..data, and an
    // update re-points ..data in one rename (as the kubelet does).
    const mount = join(outside, 'configmap');
    writeLinear(join(mount, '..2026_v1'), 2, 1);
    symlinkSync('..2026_v1', join(mount, '..data'));
    for (const file of ['model.json', 'group1-shard1of1.bin', 'metadata.json']) {
      symlinkSync(join('..data', file), join(mount, file));
    }
    symlinkSync(mount, join(root, 'mounted'));

    // A model whose version folders are symlinks to folders elsewhere.
    writeLinear(join(outside, 'store', 'linked-v1'), 2, 1);
    mkdirSync(join(root, 'linked'));
    symlinkSync(join(outside, 'store', 'linked-v1'), join(root, 'linked', '1'));

    app = await createTestApp({ MODEL_DIR: root, MODEL_POLL_SECONDS: POLL_SECONDS });
    await app.listen(0, '127.0.0.1');
    base = (await app.getUrl()).replace('[::1]', '127.0.0.1');
  });
  afterAll(async () => {
    await closeApp(app);
    warn.mockRestore();
    rmSync(outside, { recursive: true, force: true });
  });

  it('should boot past lost+found and serve symlinked model and version folders', async () => {
    expect(await servedVersions('linked')).toEqual(['1']);
    expect(await servedVersions('mounted')).toEqual(['1']);
    expect(await answer('mounted', 0)).toBe(7);
    expect(await status('/v2/models/lost+found')).toBe(404);

    writeLinear(join(outside, 'store', 'linked-v2'), 10, 100);
    symlinkSync(join(outside, 'store', 'linked-v2'), join(root, 'linked', '2'));
    await serving('linked', ['2']);
    expect(await answer('linked', 1)).toBe(130);
  }, 90000);

  it('should keep reloading every other model while one folder is empty and others cannot be read', async () => {
    warn.mockClear();
    mkdirSync(join(root, 'empty'));
    symlinkSync(join(root, 'loop'), join(root, 'loop')); // ELOOP: unreadable even to root
    mkdirSync(join(root, 'dangling', '1'), { recursive: true });
    symlinkSync(join(outside, 'gone.json'), join(root, 'dangling', '1', 'model.json'));

    cpSync(join(SHIPPED_MODELS, 'iris', '1'), join(root, 'iris', '.incoming-3'), {
      recursive: true,
    });
    renameSync(join(root, 'iris', '.incoming-3'), join(root, 'iris', '3'));
    await serving('iris', ['3']);
    rmSync(join(root, 'iris', '3'), { recursive: true }); // deleted: version 2 serves again
    await serving('iris', ['2']);

    // Several passes ran (a load, then an unload): each bad folder was named once, no more.
    const named = (model: string) =>
      warn.mock.calls.filter((call) => String(call[0]).includes(`skips model '${model}'`));
    expect(named('empty')).toHaveLength(1);
    expect(named('loop')).toHaveLength(1);
    expect(named('dangling')).toHaveLength(1);
    expect(String(named('dangling')[0][0])).toMatch(/model.json is a symlink to a missing file/);
    expect(String(named('loop')[0][0])).toMatch(/ELOOP/);
    expect(await status('/v2/models/empty/ready')).toBe(404);
    for (const bad of ['empty', 'loop', 'dangling']) rmSync(join(root, bad), { recursive: true });
  }, 150000);

  it('should swap in weights rewritten in place under load: every answer is the old or the new, none fails', async () => {
    const answers: { started: number; ended: number; y: number }[] = [];
    const load = startLoad(
      base,
      async (_, i) => {
        const started = Date.now();
        const y = await answer('inplace', i);
        answers.push({ started, ended: Date.now(), y });
        return String(y);
      },
      8,
      20000,
      90000,
    );
    await waitFor(
      'the load to be under way',
      async () => (load.result.total >= 50 ? true : undefined),
      60000,
    );
    // Same file, same size, new values: only mtime and ctime say so.
    writeFileSync(weightsOf(join(root, 'inplace', '1')), linearBytes(10, 100));
    const written = Date.now();
    await waitFor('the new weights to answer', async () => load.result.firstSeen.get('130'), 60000);
    await waitFor(
      'more answers after the swap',
      async () => (answers.filter((a) => a.y === 130).length >= 50 ? true : undefined),
      60000,
    );
    const result = await load.stop();

    console.log(
      `in-place reload: ${result.total} requests by 8 concurrent clients, ${result.failures.length} failed; ` +
        `the new weights answered ${result.firstSeen.get('130')! - written} ms after the write (poll ${POLL_SECONDS} s, one quiet pass)`,
    );
    expect(result.failures).toEqual([]);
    expect([...result.firstSeen.keys()]).toEqual(['7', '130']);
    const swapped = Math.min(...answers.filter((a) => a.y === 130).map((a) => a.ended));
    // Requests sent once the new weights had answered never get the old ones.
    expect(answers.filter((a) => a.started > swapped && a.y !== 130)).toEqual([]);
    expect(await servedVersions('inplace')).toEqual(['1']);
  }, 150000);

  it('should reload a ConfigMap-style mount when ..data is re-pointed', async () => {
    const mount = join(outside, 'configmap');
    writeLinear(join(mount, '..2026_v2'), 10, 100);
    symlinkSync('..2026_v2', join(mount, '..data_tmp'));
    renameSync(join(mount, '..data_tmp'), join(mount, '..data'));
    await waitFor(
      'the mounted model to answer with the new weights',
      async () => ((await answer('mounted', 0)) === 130 ? true : undefined),
      60000,
    );
    expect(await answer('mounted', 1)).toBe(130);
  }, 90000);
});
