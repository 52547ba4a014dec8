import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../config/app-config';
import type { EngineDescriptor } from './engine';
import {
  engineClaiming,
  engineOfPlatform,
  engineOptions,
  ENGINES,
  formatOfPlatform,
  modelFiles,
  modelFormats,
  platformNames,
} from './registry';

/** A third engine as its folder would export it; never created here (no runtime behind it). */
const fakeEngine: EngineDescriptor<{ threads: number }> = {
  id: 'fake',
  file: 'model.fake',
  platforms: { fakeruntime_fake: 'fake-format' },
  options: (config) => ({ threads: config.INFERENCE_THREADS }),
  create: () => Promise.reject(new Error('not in this test')),
  label: () => 'Fake Runtime',
};
const withFake = [...ENGINES, fakeEngine];

describe('engine registry', () => {
  it('should list TF.js then ONNX Runtime, each with its own id, file and platforms', () => {
    expect(ENGINES.map((engine) => [engine.id, engine.file])).toEqual([
      ['tfjs', 'model.json'],
      ['onnx', 'model.onnx'],
    ]);
    expect(platformNames()).toEqual([
      'tensorflowjs_layers',
      'tensorflowjs_graph',
      'onnxruntime_onnx',
    ]);
    expect(modelFormats()).toEqual(['layers-model', 'graph-model', 'onnx']);
    // A platform or a file claimed twice would make the choice of engine depend on list order.
    expect(new Set(platformNames()).size).toBe(platformNames().length);
    expect(new Set(modelFiles()).size).toBe(ENGINES.length);
    expect(new Set(ENGINES.map((engine) => engine.id)).size).toBe(ENGINES.length);
  });

  it('should give each engine its settings from the configuration, by engine id', () => {
    const config = loadConfig({ TFJS_BACKEND: 'cpu', ORT_INTRA_OP_THREADS: '3' });
    expect(engineOptions(config)).toEqual({
      tfjs: { backend: 'cpu' },
      onnx: { intraOpThreads: 3 },
    });
  });

  describe('with a third engine added to the list', () => {
    let dir: string;
    beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'registry-spec-'))));
    afterEach(() => rmSync(dir, { recursive: true, force: true }));

    it('should derive its file, platform, format and options from its descriptor alone', () => {
      expect(modelFiles(withFake)).toEqual(['model.json', 'model.onnx', 'model.fake']);
      expect(platformNames(withFake)).toContain('fakeruntime_fake');
      expect(modelFormats(withFake)).toContain('fake-format');
      expect(formatOfPlatform('fakeruntime_fake', withFake)).toBe('fake-format');
      expect(engineOfPlatform('fakeruntime_fake', withFake)).toBe(fakeEngine);
      expect(formatOfPlatform('fakeruntime_fake')).toBeUndefined();
      expect(engineOptions(loadConfig({ INFERENCE_THREADS: '2' }), withFake).fake).toEqual({
        threads: 2,
      });
    });

    it('should be the engine that claims a folder holding its file, and only when listed', async () => {
      mkdirSync(join(dir, '1'));
      writeFileSync(join(dir, '1', 'model.fake'), '');
      expect(await engineClaiming(join(dir, '1'), withFake)).toBe(fakeEngine);
      await expect(engineClaiming(join(dir, '1'))).rejects.toThrow(
        `no model file in ${join(dir, '1')}; expected one of model.json, model.onnx`,
      );
    });
  });
});
