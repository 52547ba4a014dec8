import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InferencePool } from '../inference/inference-pool';
import { ModelRegistry } from './model-registry';
import { ModelLocation } from './model-repository';
import { encodeInstances } from '../tensor/tensor-codec';

const SHIPPED = join(__dirname, '..', '..', 'models');

/** Waits (bounded) until `done()` holds; the registry's work is asynchronous model loading. */
async function until(done: () => boolean, ms = 10000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!done()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

describe(ModelRegistry.name, () => {
  let root: string;
  let registry: ModelRegistry;
  let pool: InferencePool;
  const at = (version: number): ModelLocation => ({
    name: 'iris',
    version,
    dir: join(root, 'iris', String(version)),
  });
  const copy = (shipped: string, version: number) =>
    cpSync(join(SHIPPED, shipped), at(version).dir, { recursive: true });
  const servingVersions = () => registry.serving('iris').map((m) => m.version);

  beforeAll(async () => {
    // One real inference thread on the cpu backend: explicit, unit tests need no wasm.
    pool = new InferencePool({ threads: 1, backend: 'cpu', ortIntraOpThreads: 1 });
    await pool.start();
  });
  afterAll(() => pool.close());
  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'registry-'));
    registry = new ModelRegistry(pool);
  });
  afterEach(() => {
    registry.clear();
    rmSync(root, { recursive: true, force: true });
  });

  it('should retire a superseded version only after its in-flight requests finish', async () => {
    copy('iris/1', 1);
    copy('iris/2', 2);
    await registry.load(at(1));
    const v1 = registry.serving('iris')[0];
    const release = registry.acquire(v1); // a request running on version 1

    let passDone = false;
    const pass = registry.reconcile([at(1), at(2)], 'latest').then(() => (passDone = true));
    expect(registry.statusOf('iris')).toEqual([
      { version: 2, state: 'LOADING', error: undefined }, // visible in status while it loads
      { version: 1, state: 'AVAILABLE', error: undefined },
    ]);
    expect(servingVersions()).toEqual([1]); // not served before its load and warm-up are done
    await until(() => v1.state === 'UNLOADING');

    expect(servingVersions()).toEqual([2]); // new requests already get version 2
    expect(passDone).toBe(false); // the pass waits for the request
    const inputs = () => encodeInstances(v1.signature.inputs, [[5.1, 3.5, 1.4, 0.2]]);
    // Its weights are still in the thread.
    await expect(pool.idleThread()!.run(v1.key, inputs())).resolves.toHaveProperty('outputs');

    release();
    await pass;
    expect(v1.state).toBe('END');
    await expect(pool.idleThread()!.run(v1.key, inputs())).rejects.toThrow(/not loaded/);
    expect(registry.statusOf('iris')).toEqual([
      { version: 2, state: 'AVAILABLE', error: undefined },
    ]);
  });

  it('should keep the old version serving when the new one fails, report why, and retry once fixed', async () => {
    copy('iris/1', 1);
    await registry.load(at(1));
    mkdirSync(at(2).dir);
    writeFileSync(join(at(2).dir, 'model.json'), '{"not": "a model"}');

    await registry.reconcile([at(1), at(2)], 'latest');
    expect(servingVersions()).toEqual([1]);
    expect(registry.statusOf('iris')).toEqual([
      {
        version: 2,
        state: 'END',
        error: expect.stringMatching(/iris\/2\/model.json: model.json has no modelTopology/),
      },
      { version: 1, state: 'AVAILABLE', error: undefined },
    ]);

    const load = jest.spyOn(registry, 'load');
    await registry.reconcile([at(1), at(2)], 'latest');
    expect(load).not.toHaveBeenCalled(); // same files: not retried on every poll

    rmSync(at(2).dir, { recursive: true });
    copy('iris/2', 2);
    await registry.reconcile([at(1), at(2)], 'latest');
    expect(load).toHaveBeenCalledTimes(1);
    expect(registry.statusOf('iris')).toEqual([
      { version: 2, state: 'AVAILABLE', error: undefined },
    ]);
  });

  it('should serve every version with policy all and unload one whose folder was removed', async () => {
    copy('iris/1', 1);
    copy('iris/2', 2);
    await registry.reconcile([at(1), at(2)], 'all');
    expect(servingVersions()).toEqual([2, 1]);
    const v2 = registry.serving('iris')[0];

    await registry.reconcile([at(1)], 'all');
    expect(servingVersions()).toEqual([1]);
    expect(v2.state).toBe('END');
    expect(() => registry.acquire(v2)).toThrow(/Version 2 of model 'iris' was unloaded; retry/);
  });

  it('should forget a model whose folder is gone', async () => {
    copy('iris/1', 1);
    await registry.load(at(1));
    await registry.reconcile([], 'latest');
    expect(registry.statusOf('iris')).toBeUndefined();
    expect(registry.servingNames()).toEqual([]);
  });
});
