import { Global, Logger, Module } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { cpSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AppConfig, loadConfig } from '../config/app-config';
import { BatchEvent, BatchScheduler } from './inference/batch-scheduler';
import { InferencePool } from './inference/inference-pool';
import { InferenceObserver } from './inference/inference-observer';
import { ModelModule } from './model.module';
import { ModelService } from './model.service';

const SHIPPED_MODELS = join(__dirname, '..', '..', 'models');
const SETOSA = [5.1, 3.5, 1.4, 0.2];

const batches: BatchEvent[] = [];
const observer: InferenceObserver = {
  observeInference: () => undefined,
  observeBatch: (event) => batches.push(event),
};

/** What `POST /predict` answers, minus HTTP. */
function predict(
  service: ModelService,
  params: { model?: string; version?: string; instances: unknown[] },
) {
  return service.predict(params.model, params.instances, { version: params.version });
}

/** What the app gives the core module from elsewhere: its configuration and the metrics. */
@Global()
@Module({})
class HostProviders {}

async function createService(env: Record<string, string> = {}) {
  const config = loadConfig({ MODEL_DIR: SHIPPED_MODELS, ...env });
  const moduleRef = await Test.createTestingModule({
    imports: [
      ModelModule,
      {
        module: HostProviders,
        providers: [
          { provide: AppConfig, useValue: config },
          { provide: InferenceObserver, useValue: observer },
        ],
        exports: [AppConfig, InferenceObserver],
      },
    ],
  }).compile();
  await moduleRef.init(); // compile() alone does not run onModuleInit
  return {
    moduleRef,
    service: moduleRef.get(ModelService),
    pool: moduleRef.get(InferencePool),
  };
}

describe(ModelService.name, () => {
  describe('with the shipped models', () => {
    let service: ModelService;
    let pool: InferencePool;
    let close: () => Promise<void>;
    // Every load of a version goes through the pool, which loads it in every thread.
    const loadSpy = jest.spyOn(InferencePool.prototype, 'load');

    beforeAll(async () => {
      const created = await createService({
        MODEL_VERSION_POLICY: 'all',
        INFERENCE_THREADS: '2',
      });
      service = created.service;
      pool = created.pool;
      close = () => created.moduleRef.close();
    });
    afterAll(() => close());

    it('should load every model version once, at init', () => {
      expect(service.isReady()).toBe(true);
      expect(service.modelNames()).toEqual([
        'digits',
        'iris',
        'iris-graph',
        'iris-onnx',
        'linear',
        'linear-onnx',
      ]);
      expect(service.versionsOf('iris').map((m) => m.version)).toEqual([2, 1]);
      expect(loadSpy).toHaveBeenCalledTimes(7);
    });

    it('should never load a model while predicting', async () => {
      const callsAfterInit = loadSpy.mock.calls.length;
      for (let i = 0; i < 25; i++) {
        await predict(service, { model: 'iris', instances: [SETOSA] });
        await predict(service, { model: 'linear', instances: [[i]] });
      }
      expect(loadSpy).toHaveBeenCalledTimes(callsAfterInit);
    });

    it('should warm each model so its output shapes are known before the first request', () => {
      const graph = service.resolve('iris-graph');
      expect(graph.warmupTimeMs).toBeGreaterThan(0);
      expect(graph.signature.outputs[0].shape).toEqual([-1, 3]);
    });

    it('should leave no tensor behind in any thread after 1,000 predictions, valid or not', async () => {
      await predict(service, { model: 'iris', instances: [SETOSA] });
      const tensors = () => pool.snapshot().map((t) => t.tensors);
      const before = tensors();
      expect(before).toHaveLength(2);
      for (let i = 0; i < 1000; i++) {
        const model = ['iris', 'iris-graph', 'linear'][i % 3];
        const instances = model === 'linear' ? [[i], [i + 1]] : [SETOSA, SETOSA];
        await predict(service, { model, instances });
        if (i % 100 === 0) {
          await expect(predict(service, { model, instances: [['bad']] })).rejects.toThrow();
        }
      }
      expect(tensors()).toEqual(before);
    }, 60_000);

    it('should keep answers independent when requests run concurrently', async () => {
      const run = (x: number) =>
        predict(service, {
          model: x % 2 ? 'linear' : 'iris',
          instances: x % 2 ? [[x]] : [[x, 1, 2, 3]],
        });
      const inputs = Array.from({ length: 50 }, (_, i) => i);
      const sequential = [];
      for (const x of inputs) sequential.push(await run(x));
      const concurrent = await Promise.all(inputs.map(run));
      expect(concurrent).toEqual(sequential);
    });

    it('should give every request of a merged batch the answer it gets alone', async () => {
      const rows = Array.from({ length: 96 }, (_, i) => [
        4 + (i % 7) * 0.5,
        3 + (i % 5) * 0.2,
        1 + (i % 11) * 0.5,
        (i % 13) * 0.2,
      ]);
      const alone: Awaited<ReturnType<typeof predict>>[] = [];
      for (const row of rows)
        alone.push(await predict(service, { model: 'iris', instances: [row] }));
      batches.length = 0;
      // Concurrent requests of 1 or 3 rows: while both threads are busy the rest queue up and merge.
      const together = await Promise.all(
        rows.map((row, i) =>
          predict(service, { model: 'iris', instances: i % 3 === 0 ? [row, row, row] : [row] }),
        ),
      );
      together.forEach((result, i) => {
        const expected = alone[i].predictions[0];
        result.predictions.forEach((prediction) => expect(prediction).toEqual(expected));
      });
      const merged = batches.filter((b) => b.model === 'iris' && b.waits.length > 1);
      expect(merged.length).toBeGreaterThan(0);
      expect(Math.max(...batches.map((b) => b.rows))).toBeLessThanOrEqual(32);
    });

    it('should never merge requests of a model that is not batch-major', () => {
      // iris-graph's batch dimension is free and its output follows it: merged like iris.
      expect(service.resolve('iris-graph').batchable).toBe(true);
      expect(service.resolve('linear').batchable).toBe(true);
    });

    it('should report the backend the threads use', () => {
      expect(['wasm', 'tensorflow']).toContain(service.describe('iris').backend);
    });

    it('should end every model and inference thread on shutdown', async () => {
      const created = await createService({ DEFAULT_MODEL: 'linear' });
      const model = created.service.resolve();
      expect(created.pool.serving).toBe(true);
      await created.moduleRef.close();
      expect(model.state).toBe('END');
      expect(created.pool.serving).toBe(false);
    });
  });

  it('should use the cpu backend only when asked for', async () => {
    // The linear model alone in one thread: warming the digits CNN on the cpu backend took most
    // of the test's 30 s on a loaded machine.
    const root = mkdtempSync(join(tmpdir(), 'cpu-backend-'));
    cpSync(join(SHIPPED_MODELS, 'linear'), join(root, 'linear'), { recursive: true });
    const { moduleRef, service } = await createService({
      MODEL_DIR: root,
      TFJS_BACKEND: 'cpu',
      INFERENCE_THREADS: '1',
    });
    try {
      expect(service.backend).toBe('cpu');
      const result = await predict(service, { instances: [[1]] });
      expect((result.predictions[0] as number[])[0]).toBeCloseTo(5, 0);
    } finally {
      await moduleRef.close();
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('should pick wasm under auto when native TensorFlow is not installed', async () => {
    const { moduleRef, service } = await createService({
      TFJS_BACKEND: 'auto',
      DEFAULT_MODEL: 'linear',
    });
    let native = true;
    try {
      require.resolve('@tensorflow/tfjs-node');
    } catch {
      native = false;
    }
    expect(service.backend).toBe(native ? 'tensorflow' : 'wasm');
    await moduleRef.close();
  });

  describe('hot reload with model folders it cannot use', () => {
    let root: string;
    let service: ModelService;
    let close: () => Promise<void>;
    const warn = jest.spyOn(Logger.prototype, 'warn');
    const log = jest.spyOn(Logger.prototype, 'log');
    const copy = (shipped: string, to: string) =>
      cpSync(join(SHIPPED_MODELS, shipped), join(root, to), { recursive: true });
    const messages = (spy: jest.SpyInstance) => spy.mock.calls.map((call) => String(call[0]));

    beforeAll(async () => {
      root = mkdtempSync(join(tmpdir(), 'service-reload-'));
      copy('iris/2', 'iris/2');
      copy('linear/1', 'linear/1');
      mkdirSync(join(root, 'lost+found')); // at the root of an ext4 volume: never a model, never fatal
      const created = await createService({ MODEL_DIR: root, MODEL_VERSION_POLICY: 'latest' });
      service = created.service;
      close = () => created.moduleRef.close();
    });
    afterAll(async () => {
      await close();
      rmSync(root, { recursive: true, force: true });
      warn.mockRestore();
      log.mockRestore();
    });

    it('should fail only the model whose folder is empty or unreadable, warning once each, and reload the others', async () => {
      expect(service.modelNames()).toEqual(['iris', 'linear']);
      warn.mockClear();
      mkdirSync(join(root, 'empty'));
      symlinkSync(join(root, 'loop'), join(root, 'loop'));
      rmSync(join(root, 'linear', '1'), { recursive: true }); // linear's folder is now empty
      copy('iris/1', 'iris/3');
      await service.reload();
      await service.reload(); // a second pass: no second warning

      expect(service.versionsOf('iris').map((m) => m.version)).toEqual([3]);
      expect(service.versionsOf('linear').map((m) => m.version)).toEqual([1]); // keeps serving
      expect(messages(warn).sort()).toEqual([
        expect.stringMatching(
          /^Hot reload skips model 'empty': Model folder .*empty has no model.json.*nothing of it is loaded until the folder is fixed; a restart with STRICT_STARTUP=true would fail$/,
        ),
        expect.stringMatching(
          /^Hot reload skips model 'linear': Model folder .*linear has no model.json.*its loaded version\(s\) 1 keep serving until the folder is fixed; a restart with STRICT_STARTUP=true would fail$/,
        ),
        expect.stringMatching(
          /^Hot reload skips model 'loop': cannot follow the symlink .*loop: ELOOP/,
        ),
      ]);
      expect(await predict(service, { model: 'linear', instances: [[1]] })).toMatchObject({
        version: 1,
      });

      log.mockClear();
      copy('linear/1', 'linear/2');
      await service.reload();
      expect(service.versionsOf('linear').map((m) => m.version)).toEqual([2]);
      expect(messages(log)).toContain("Hot reload reads the folder of model 'linear' again");
    });

    it('should report one queue depth per version while two copies of it (a reload in place) have queues', () => {
      const copy = (key: string, requests: number) =>
        [key, { target: { key, name: 'linear', version: 2, batchable: true }, requests }] as const;
      const depths = jest
        .spyOn(BatchScheduler.prototype, 'depths')
        .mockReturnValue(new Map([copy('linear/2', 2), copy('linear/2#1', 3)]));
      try {
        expect(service.runtimeStats().queues).toEqual([
          { name: 'linear', version: 2, requests: 5 },
        ]);
      } finally {
        depths.mockRestore();
      }
    });
  });

  describe('a repository a strict restart would refuse', () => {
    let root: string;
    let close: (() => Promise<void>) | undefined;
    // Spied here, not at collection: the describe above restores the same spy in its afterAll.
    let warn: jest.SpyInstance;
    beforeAll(() => {
      warn = jest.spyOn(Logger.prototype, 'warn');
    });
    const copy = (shipped: string, to: string) =>
      cpSync(join(SHIPPED_MODELS, shipped), join(root, to), { recursive: true });
    /** A TF.js version folder whose model.json is cut short: it never loads. */
    const breakVersion = (to: string, text = '{"modelTopology": ') => {
      copy('linear/1', to);
      writeFileSync(join(root, to, 'model.json'), text);
    };
    const restartWarnings = () =>
      warn.mock.calls
        .map((call) => String(call[0]))
        .filter((message) => message.endsWith('a restart with STRICT_STARTUP=true would fail'));

    beforeEach(() => {
      root = mkdtempSync(join(tmpdir(), 'service-strict-'));
      copy('iris/2', 'iris/2');
      copy('linear/1', 'linear/1');
      warn.mockClear();
    });
    afterEach(async () => {
      await close?.();
      close = undefined;
      rmSync(root, { recursive: true, force: true });
    });
    afterAll(() => warn.mockRestore());

    it('should warn once per version hot reload cannot load that a strict restart would fail, not every pass', async () => {
      const created = await createService({ MODEL_DIR: root });
      close = () => created.moduleRef.close();
      const { service } = created;
      breakVersion('iris/3');
      for (let pass = 0; pass < 4; pass++) await service.reload();

      expect(service.versionsOf('iris').map((m) => m.version)).toEqual([2]);
      expect(restartWarnings()).toEqual([
        expect.stringMatching(
          /^failed to load 'iris' version 3: .*iris\/3\/model\.json: model\.json is not valid JSON.*; the versions already loaded keep serving; a restart with STRICT_STARTUP=true would fail$/,
        ),
      ]);

      // A second bad version is a second warning, still one.
      breakVersion('linear/2');
      for (let pass = 0; pass < 3; pass++) await service.reload();
      expect(restartWarnings()).toHaveLength(2);
      expect(restartWarnings()[1]).toMatch(/linear\/2\/model\.json/);
    });

    it('should start with STRICT_STARTUP=false, ready, and serve the failed version once hot reload sees it fixed', async () => {
      breakVersion('iris/3');
      const created = await createService({ MODEL_DIR: root, STRICT_STARTUP: 'false' });
      close = () => created.moduleRef.close();
      const { service } = created;
      expect(service.isReady()).toBe(true);
      // Latest policy: version 3 was the one to serve, so iris serves nothing until it is fixed.
      expect(service.statusOf('iris')).toEqual([
        {
          version: 3,
          state: 'END',
          error: expect.stringMatching(/^failed to load 'iris' version 3: iris\/3\/model\.json/),
        },
      ]);
      expect(service.modelNames()).toEqual(['linear']);

      rmSync(join(root, 'iris', '3'), { recursive: true });
      copy('iris/1', 'iris/3');
      // A change is acted on once it has held still for one pass.
      await service.reload();
      await service.reload();
      expect(service.versionsOf('iris').map((m) => m.version)).toEqual([3]);
      expect(await predict(service, { model: 'iris', instances: [SETOSA] })).toMatchObject({
        version: 3,
      });
    });

    it('should refuse DEFAULT_MODEL naming a model that failed, saying why, even with STRICT_STARTUP=false', async () => {
      breakVersion('iris/3');
      await expect(
        createService({ MODEL_DIR: root, STRICT_STARTUP: 'false', DEFAULT_MODEL: 'iris' }),
      ).rejects.toThrow(
        /^DEFAULT_MODEL=iris failed to load \(failed to load 'iris' version 3: iris\/3\/model\.json/,
      );
    });
  });
});
