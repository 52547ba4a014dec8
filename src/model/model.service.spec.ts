import { Test } from '@nestjs/testing';
import * as tf from '@tensorflow/tfjs';
import { join } from 'node:path';
import { AppConfig, loadConfig } from '../config/app-config';
import * as loader from './model-loader';
import { ModelService } from './model.service';

const SHIPPED_MODELS = join(__dirname, '..', '..', 'models');
const SETOSA = [5.1, 3.5, 1.4, 0.2];

async function createService(env: Record<string, string> = {}) {
  const moduleRef = await Test.createTestingModule({
    providers: [
      ModelService,
      { provide: AppConfig, useValue: loadConfig({ MODEL_DIR: SHIPPED_MODELS, ...env }) },
    ],
  }).compile();
  await moduleRef.init(); // compile() alone does not run onModuleInit
  return { moduleRef, service: moduleRef.get(ModelService) };
}

describe(ModelService.name, () => {
  describe('with the shipped models', () => {
    let service: ModelService;
    let close: () => Promise<void>;
    const loadSpy = jest.spyOn(loader, 'loadTfjsModel');

    beforeAll(async () => {
      const created = await createService({ MODEL_VERSION_POLICY: 'all' });
      service = created.service;
      close = () => created.moduleRef.close();
    });
    afterAll(() => close());

    it('should load every model version once, at init', () => {
      expect(service.isReady()).toBe(true);
      expect(service.modelNames()).toEqual(['digits', 'iris', 'iris-graph', 'linear']);
      expect(service.versionsOf('iris').map((m) => m.version)).toEqual([2, 1]);
      expect(loadSpy).toHaveBeenCalledTimes(5);
    });

    it('should never load a model while predicting', async () => {
      const callsAfterInit = loadSpy.mock.calls.length;
      for (let i = 0; i < 25; i++) {
        await service.predict({ model: 'iris', instances: [SETOSA] });
        await service.predict({ model: 'linear', instances: [[i]] });
      }
      expect(loadSpy).toHaveBeenCalledTimes(callsAfterInit);
    });

    it('should warm each model so its output shapes are known before the first request', () => {
      const graph = service.resolve('iris-graph');
      expect(graph.warmupTimeMs).toBeGreaterThan(0);
      expect(graph.signature.outputs[0].shape).toEqual([-1, 3]);
    });

    it('should leave no tensor behind after 1,000 predictions, valid or not', async () => {
      await service.predict({ model: 'iris', instances: [SETOSA] });
      const before = tf.memory().numTensors;
      for (let i = 0; i < 1000; i++) {
        const model = ['iris', 'iris-graph', 'linear'][i % 3];
        const instances = model === 'linear' ? [[i], [i + 1]] : [SETOSA, SETOSA];
        await service.predict({ model, instances });
        if (i % 100 === 0) {
          await expect(service.predict({ model, instances: [['bad']] })).rejects.toThrow();
        }
      }
      expect(tf.memory().numTensors).toBe(before);
    });

    it('should keep answers independent when requests run concurrently', async () => {
      const run = (x: number) =>
        service.predict({
          model: x % 2 ? 'linear' : 'iris',
          instances: x % 2 ? [[x]] : [[x, 1, 2, 3]],
        });
      const inputs = Array.from({ length: 50 }, (_, i) => i);
      const sequential = [];
      for (const x of inputs) sequential.push(await run(x));
      const concurrent = await Promise.all(inputs.map(run));
      expect(concurrent).toEqual(sequential);
    });

    it('should report the backend in use', () => {
      expect(service.describe('iris').backend).toBe(tf.getBackend());
    });

    it('should dispose every model on shutdown', async () => {
      const { moduleRef, service: other } = await createService({ DEFAULT_MODEL: 'linear' });
      const model = other.resolve();
      const weights = tf.memory().numTensors;
      await moduleRef.close();
      expect(model.state).toBe('END');
      expect(tf.memory().numTensors).toBeLessThan(weights);
    });
  });

  it('should use the cpu backend only when asked for', async () => {
    const { moduleRef, service } = await createService({
      TFJS_BACKEND: 'cpu',
      DEFAULT_MODEL: 'linear',
    });
    expect(service.backend).toBe('cpu');
    const result = await service.predict({ instances: [[1]] });
    expect((result.predictions[0] as number[])[0]).toBeCloseTo(5, 0);
    await moduleRef.close();
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
});
