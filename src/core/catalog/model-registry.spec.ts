import { Logger } from '@nestjs/common';
import {
  chmodSync,
  cpSync,
  mkdirSync,
  mkdtempSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../config/app-config';
import { engineOptions } from '../../engines/registry';
import { InferencePool } from '../inference/inference-pool';
import type { LoadReport } from '../inference/thread-protocol';
import { ModelRegistry } from './model-registry';
import { ModelLocation } from './model-repository';
import { encodeTensor } from '../../tensor/packing';
import type { TensorSpec } from '../../tensor/signature';

/** The single-input models this spec runs, fed their rows (the row format without its edge). */
const encodeInstances = (inputs: TensorSpec[], rows: unknown[]) => [
  encodeTensor(inputs[0], rows, () => 'instances'),
];

const SHIPPED = join(__dirname, '..', '..', '..', 'models');

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
    const config = loadConfig({ TFJS_BACKEND: 'cpu', ORT_INTRA_OP_THREADS: '1' });
    pool = new InferencePool({ threads: 1, engines: engineOptions(config) });
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

  it("should give a loaded version the configuration it serves under: its folder's, checked and completed, or one auto-completed from the model", async () => {
    const defaults = {
      maxBatchSize: 16,
      queueDelayMs: 2,
      threads: 3,
      versionPolicy: 'all' as const,
    };
    registry = new ModelRegistry(pool, defaults);
    copy('iris/1', 1);
    copy('iris/2', 2);
    await registry.load(at(1));
    const file = join(root, 'iris', 'config.json');
    const user = { name: 'iris', max_batch_size: 4, input: [{ name: 'features', dims: [4] }] };
    await registry.load({ ...at(2), config: { config: user as never, file } });
    const [v2, v1] = registry.serving('iris');
    const tensors = (maxBatchSize: number) => ({
      max_batch_size: maxBatchSize,
      input: [{ name: 'features', data_type: 'TYPE_FP32', dims: [4] }],
      output: [{ name: 'probabilities', data_type: 'TYPE_FP32', dims: [3] }],
    });
    expect(v1.config).toEqual({
      name: 'iris',
      platform: 'tensorflowjs_layers',
      backend: 'tensorflowjs',
      version_policy: { all: {} },
      ...tensors(16),
      instance_group: [{ count: 3, kind: 'KIND_CPU' }],
      dynamic_batching: { max_queue_delay_microseconds: 2000 },
    });
    expect(v2.configFile?.file).toBe(file);
    // max_batch_size given without dynamic_batching: each request runs alone, as in Triton.
    const unmerged = { ...v1.config, ...tensors(4) };
    delete unmerged.dynamic_batching;
    expect(v2.config).toEqual(unmerged);
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

  describe('repository API', () => {
    it('should unload a model only after its queued and running requests finish, refusing new ones at once', async () => {
      copy('iris/2', 2);
      await registry.load(at(2));
      const v2 = registry.serving('iris')[0];
      const release = registry.acquire(v2); // a request queued or running on it

      let unloaded = false;
      const unload = registry.unloadModel('iris').then(() => (unloaded = true));
      expect(v2.state).toBe('UNLOADING');
      expect(registry.serving('iris')).toEqual([]); // new requests no longer resolve it
      // A request resolved just before, reaching acquire() after: Triton's unknown-model words.
      expect(() => registry.acquire(v2)).toThrow(
        /^Request for unknown model: 'iris' has no available versions/,
      );
      const inputs = () => encodeInstances(v2.signature.inputs, [[5.1, 3.5, 1.4, 0.2]]);
      await new Promise((resolve) => setTimeout(resolve, 20));
      expect(unloaded).toBe(false); // the unload waits for the request
      await expect(pool.idleThread()!.run(v2.key, inputs())).resolves.toHaveProperty('outputs');

      release();
      await unload;
      expect(v2.state).toBe('END');
      await expect(pool.idleThread()!.run(v2.key, inputs())).rejects.toThrow(/not loaded/);
      expect(registry.statusOf('iris')).toBeUndefined();
      expect(registry.isUnloaded('iris')).toBe(true);
    });

    it('should load an unloaded model again, and reload a serving one in place: the old copy serves until the new one is warm', async () => {
      copy('iris/2', 2);
      await registry.load(at(2));
      await registry.unloadModel('iris');
      expect(await registry.loadModel('iris', [at(2)])).toEqual([]);
      expect(registry.isUnloaded('iris')).toBe(false);
      const first = registry.serving('iris')[0];
      const release = registry.acquire(first);

      const reload = registry.loadModel('iris', [at(2)]);
      await until(() => first.state === 'UNLOADING');
      const second = registry.serving('iris')[0];
      expect(second).not.toBe(first); // new requests get the new copy at once
      expect(second.generation).toBe(first.generation + 1);
      release();
      expect(await reload).toEqual([]);
      expect(first.state).toBe('END');
    });

    it("should keep the serving copy when a reload fails, and say why in Triton's words", async () => {
      copy('iris/2', 2);
      await registry.load(at(2));
      const serving = registry.serving('iris')[0];
      writeFileSync(join(at(2).dir, 'model.json'), '{');
      const failures = await registry.loadModel('iris', [at(2)]);
      expect(failures).toEqual([
        expect.stringMatching(/^failed to load 'iris' version 2: iris\/2\/model\.json: /),
      ]);
      expect(registry.serving('iris')).toEqual([serving]);
    });
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
    expect(load).not.toHaveBeenCalled(); // changed: retried once the files hold still for a pass
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

  describe('a version changed in place', () => {
    const linear = (): ModelLocation => ({ name: 'linear', version: 1, dir: join(root, 'linear') });
    const weights = () => join(linear().dir, 'group1-shard1of1.bin');
    /**
     * Rewrites the kernel and bias in place: same file, same size, new values. File times tick
     * coarsely (a few ms), so it writes again until mtime shows it, as any later write would.
     */
    const rewrite = async (kernel: number, bias: number) => {
      const before = statSync(weights()).mtimeMs;
      for (let i = 0; i < 200; i++) {
        writeFileSync(weights(), Buffer.from(new Float32Array([kernel, bias]).buffer));
        if (statSync(weights()).mtimeMs !== before) return;
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      throw new Error('mtime never moved');
    };
    const answer = async (key: string, x: number) => {
      const model = registry.serving('linear')[0];
      const { outputs } = await pool
        .idleThread()!
        .run(key, encodeInstances(model.signature.inputs, [[x]]));
      return Array.from(outputs[0].data as Float32Array);
    };

    beforeEach(async () => {
      cpSync(join(SHIPPED, 'linear', '1'), linear().dir, { recursive: true });
      await rewrite(2, 1);
      await registry.load(linear());
    });

    it("should load a new copy when only its model folder's configuration changed", async () => {
      const old = registry.serving('linear')[0];
      const file = join(root, 'linear', 'config.json');
      const configured = (maxBatchSize: number): ModelLocation => ({
        ...linear(),
        config: { config: { name: 'linear', max_batch_size: maxBatchSize }, file },
      });
      await registry.reconcile([configured(4)], 'latest');
      expect(registry.serving('linear')).toEqual([old]); // changed: wait one pass
      await registry.reconcile([configured(4)], 'latest');
      const fresh = registry.serving('linear')[0];
      expect(fresh).not.toBe(old);
      expect(fresh.config.max_batch_size).toBe(4);
      await registry.reconcile([configured(4)], 'latest');
      expect(registry.serving('linear')[0]).toBe(fresh); // unchanged since: nothing to do
    });

    it('should load a new copy once the files hold still, swap it in, and free the old copy only after its requests finish', async () => {
      const old = registry.serving('linear')[0];
      expect(await answer(old.key, 3)).toEqual([7]);
      await registry.reconcile([linear()], 'latest');
      expect(registry.serving('linear')).toEqual([old]); // same files: nothing to do

      await rewrite(10, 100);
      await registry.reconcile([linear()], 'latest');
      expect(registry.serving('linear')).toEqual([old]); // changed: wait one pass in case it is still being written

      const release = registry.acquire(old); // a request running on the old copy
      let passDone = false;
      const pass = registry.reconcile([linear()], 'latest').then(() => (passDone = true));
      await until(() => registry.serving('linear')[0] !== old);
      const fresh = registry.serving('linear')[0];
      expect(fresh.version).toBe(1);
      expect(fresh.key).not.toBe(old.key); // both copies are in the thread at once
      expect(old.state).toBe('UNLOADING');
      expect(await answer(fresh.key, 3)).toEqual([130]);
      expect(await answer(old.key, 3)).toEqual([7]); // the request in flight still has its weights
      expect(registry.current(old)).toBe(fresh); // a request resolved before the swap runs on the new copy
      expect(registry.statusOf('linear')).toEqual([
        { version: 1, state: 'AVAILABLE', error: undefined },
      ]);
      expect(passDone).toBe(false);

      release();
      await pass;
      expect(old.state).toBe('END');
      await expect(answer(old.key, 3)).rejects.toThrow(/not loaded/);
      await registry.reconcile([linear()], 'latest');
      expect(registry.serving('linear')).toEqual([fresh]); // no reload without a new change
    });

    it('should keep the old copy serving when the changed files fail to load, and retry when they change again', async () => {
      const old = registry.serving('linear')[0];
      const warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
      try {
        writeFileSync(join(linear().dir, 'model.json'), '{"modelTopology": '); // size changes
        await registry.reconcile([linear()], 'latest');
        await registry.reconcile([linear()], 'latest');
        await registry.reconcile([linear()], 'latest'); // not retried: same broken files
        expect(warn.mock.calls.map((call) => String(call[0]))).toEqual([
          expect.stringMatching(
            /^Failed to reload linear\/1 after its files changed: .*model.json is not valid JSON.*the copy loaded before keeps serving/,
          ),
        ]);
      } finally {
        warn.mockRestore();
      }
      expect(registry.serving('linear')).toEqual([old]);
      expect(registry.statusOf('linear')).toEqual([
        { version: 1, state: 'AVAILABLE', error: undefined },
      ]);
      expect(await answer(old.key, 3)).toEqual([7]);

      cpSync(join(SHIPPED, 'linear', '1', 'model.json'), join(linear().dir, 'model.json'));
      await rewrite(10, 100);
      await registry.reconcile([linear()], 'latest');
      await registry.reconcile([linear()], 'latest');
      const fresh = registry.serving('linear')[0];
      expect(fresh).not.toBe(old);
      expect(await answer(fresh.key, 3)).toEqual([130]);
    });

    it('should leave a model whose folder could not be read as it is', async () => {
      const old = registry.serving('linear')[0];
      await registry.reconcile([], 'latest', new Set(['linear']));
      expect(registry.serving('linear')).toEqual([old]);
      await registry.reconcile([], 'latest');
      expect(registry.serving('linear')).toEqual([]); // once readable and gone, it goes
    });
  });

  describe('a version that failed to load', () => {
    /** A host whose first load fails as an unreadable file would, then loads: permissions are no obstacle to root. */
    const report: LoadReport = {
      platform: 'tensorflowjs_graph',
      backend: 'wasm',
      signature: {
        inputs: [{ name: 'x', dtype: 'float32', shape: [-1, 1] }],
        outputs: [{ name: 'y', dtype: 'float32', shape: [-1, 1] }],
      },
      batchMajor: true,
      loadMs: 1,
      warmupMs: 1,
    };

    it('should be retried when only its permissions change (ctime)', async () => {
      const host = {
        load: jest
          .fn<Promise<LoadReport>, [string, string]>()
          .mockRejectedValueOnce(new Error('EACCES: permission denied, open model.json'))
          .mockResolvedValue(report),
        unload: jest.fn(async () => undefined),
      };
      const fake = new ModelRegistry(host);
      const location: ModelLocation = { name: 'm', version: 1, dir: join(root, 'm', '1') };
      mkdirSync(location.dir, { recursive: true });
      const file = join(location.dir, 'model.json');
      writeFileSync(file, '{}');
      chmodSync(file, 0o644);
      await fake.load(location);
      expect(fake.statusOf('m')).toEqual([
        { version: 1, state: 'END', error: expect.stringMatching(/EACCES/) },
      ]);
      await fake.reconcile([location], 'latest');
      await fake.reconcile([location], 'latest');
      expect(host.load).toHaveBeenCalledTimes(1); // unchanged: not retried

      // chmod to the mode it already has: size, mtime and mode stay, only ctime moves.
      const { ctimeMs, mtimeMs } = statSync(file);
      for (let i = 0; i < 200 && statSync(file).ctimeMs === ctimeMs; i++) {
        await new Promise((resolve) => setTimeout(resolve, 5));
        chmodSync(file, 0o644);
      }
      expect(statSync(file).mtimeMs).toBe(mtimeMs);
      expect(statSync(file).ctimeMs).not.toBe(ctimeMs);
      await fake.reconcile([location], 'latest');
      await fake.reconcile([location], 'latest');
      expect(host.load).toHaveBeenCalledTimes(2);
      expect(fake.statusOf('m')).toEqual([{ version: 1, state: 'AVAILABLE', error: undefined }]);
      fake.clear();
    });
  });
});
