import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ConfigDefaults } from '../model-config/effective-config';
import type { LoadReport } from '../inference/thread-protocol';
import { ModelHost, ServedModel } from './served-model';

describe(ServedModel.name, () => {
  const defaults: ConfigDefaults = {
    maxBatchSize: 32,
    queueDelayMs: 0,
    threads: 1,
    versionPolicy: 'latest',
  };
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'served-model-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const host = (outputDtype: string): ModelHost & { unload: jest.Mock } => ({
    load: (): Promise<LoadReport> =>
      Promise.resolve({
        platform: 'onnxruntime_onnx',
        backend: 'onnxruntime-cpu',
        signature: {
          inputs: [{ name: 'x', dtype: 'float32', shape: [-1, 2] }],
          outputs: [{ name: 'y', dtype: outputDtype, shape: [-1, 2] }],
        },
        batchMajor: true,
        loadMs: 1,
        warmupMs: 1,
      }),
    unload: jest.fn(() => Promise.resolve()),
  });

  it('should refuse labels for an output of strings, which has no scores to rank', async () => {
    writeFileSync(join(dir, 'metadata.json'), JSON.stringify({ labels: ['a', 'b'] }));
    const strings = host('string');
    await expect(
      new ServedModel({ name: 'm', version: 1, dir }).load(strings, defaults),
    ).rejects.toThrow(
      "metadata.json lists labels but output 'y' holds strings; labels name the columns of a numeric [-1,n] output of scores",
    );
    expect(strings.unload).toHaveBeenCalledWith('m/1');
    await expect(
      new ServedModel({ name: 'm', version: 1, dir }).load(host('float32'), defaults),
    ).resolves.toBeUndefined();
  });
});
