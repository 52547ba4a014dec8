import { Logger } from '@nestjs/common';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { EngineDescriptor } from '../../engines/engine';
import { ENGINES } from '../../engines/registry';
import { RepositoryError, scanModels, scanRepository } from './model-repository';

describe(scanRepository.name, () => {
  let root: string;
  const touch = (path: string) => {
    mkdirSync(join(root, path, '..'), { recursive: true });
    writeFileSync(join(root, path), '{}');
  };

  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'repo-spec-'));
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it('should find versioned and unversioned models, sorted by name then version', async () => {
    touch('b/1/model.json');
    touch('b/10/model.json');
    touch('b/2/model.json');
    touch('a/model.json');
    const found = await scanRepository(root, 'all');
    expect(found.map((m) => `${m.name}/${m.version}`)).toEqual(['a/1', 'b/1', 'b/2', 'b/10']);
    expect(found[0].dir).toBe(join(root, 'a'));
  });

  it("should attach the model folder's config.json to every version of it", async () => {
    touch('m/1/model.json');
    touch('m/2/model.json');
    touch('plain/1/model.json');
    writeFileSync(join(root, 'm', 'config.json'), '{"name": "m", "max_batch_size": 4}');
    const found = await scanRepository(root, 'all');
    const file = join(root, 'm', 'config.json');
    expect(found.map((m) => [m.name, m.version, m.config])).toEqual([
      ['m', 1, { config: { name: 'm', max_batch_size: 4 }, file }],
      ['m', 2, { config: { name: 'm', max_batch_size: 4 }, file }],
      ['plain', 1, undefined],
    ]);
  });

  it('should fail only the model whose config.json cannot be parsed, naming the file', async () => {
    touch('m/1/model.json');
    touch('ok/1/model.json');
    writeFileSync(join(root, 'm', 'config.json'), '{"name": ');
    writeFileSync(join(root, 'ok', 'config.json'), '[1]');
    const scan = await scanModels(root);
    expect(scan.locations).toEqual([]);
    expect(scan.problems).toEqual([
      {
        name: 'm',
        message: expect.stringContaining(`${join(root, 'm', 'config.json')}: not valid JSON`),
      },
      {
        name: 'ok',
        message: `${join(root, 'ok', 'config.json')}: expected a JSON object (Triton's ModelConfig), got [1]`,
      },
    ]);
  });

  it("should read a model folder's config.pbtxt, and refuse a folder holding both files", async () => {
    touch('t/1/model.onnx');
    touch('both/1/model.onnx');
    writeFileSync(
      join(root, 't', 'config.pbtxt'),
      'name: "t"\ninput [ { name: "x" dims: [ 4 ] } ]',
    );
    writeFileSync(join(root, 'both', 'config.pbtxt'), 'name: "both"');
    writeFileSync(join(root, 'both', 'config.json'), '{"name": "both"}');
    const scan = await scanModels(root);
    expect(scan.locations.map((m) => m.config)).toEqual([
      {
        config: { name: 't', input: [{ name: 'x', dims: [4] }] },
        file: join(root, 't', 'config.pbtxt'),
      },
    ]);
    expect(scan.problems).toEqual([
      {
        name: 'both',
        message: `${join(root, 'both')} holds both config.pbtxt and config.json; keep one (they would say the same thing twice, and might disagree)`,
      },
    ]);
  });

  it('should keep only the highest version under the latest policy', async () => {
    touch('b/1/model.json');
    touch('b/10/model.json');
    touch('b/2/model.json');
    expect((await scanRepository(root, 'latest')).map((m) => m.version)).toEqual([10]);
  });

  it('should ignore folders that are not positive integers, and hidden folders', async () => {
    touch('m/1/model.json');
    touch('m/0/model.json');
    touch('m/latest/model.json');
    touch('.cache/1/model.json');
    expect((await scanRepository(root, 'all')).map((m) => `${m.name}/${m.version}`)).toEqual([
      'm/1',
    ]);
  });

  it('should warn once about each folder inside a model that is not a version, never about versions or dot-folders', async () => {
    const warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    try {
      touch('mine/1/model.json');
      touch('mine/old-backup/model.json');
      touch('mine/.incoming-2/model.json');
      await scanRepository(root, 'all');
      await scanRepository(root, 'all'); // a hot-reload rescan: no second warning
      const messages = warn.mock.calls.map((call) => String(call[0]));
      expect(messages).toEqual([
        expect.stringContaining(
          `Ignoring ${join(root, 'mine', 'old-backup')}: not a version folder of model 'mine'`,
        ),
      ]);
    } finally {
      warn.mockRestore();
    }
  });

  it('should reject a missing directory, an empty one, and a model folder without model.json', async () => {
    await expect(scanRepository(join(root, 'nope'), 'all')).rejects.toThrow(RepositoryError);
    await expect(scanRepository(root, 'all')).rejects.toThrow(/holds no model/);
    mkdirSync(join(root, 'empty-model'));
    await expect(scanRepository(root, 'all')).rejects.toThrow(/empty-model has no model.json/);
  });

  it('should skip lost+found and dot-folders, at boot too, without a warning', async () => {
    const warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    try {
      touch('m/1/model.json');
      mkdirSync(join(root, 'lost+found'));
      mkdirSync(join(root, '.staging'));
      mkdirSync(join(root, 'm', 'lost+found'));
      const found = await scanRepository(root, 'all');
      expect(found.map((m) => `${m.name}/${m.version}`)).toEqual(['m/1']);
      expect(warn).not.toHaveBeenCalled();
    } finally {
      warn.mockRestore();
    }
    rmSync(join(root, 'm'), { recursive: true });
    await expect(scanRepository(root, 'all')).rejects.toThrow(/holds no model/);
  });

  it('should follow symlinked model and version folders, and ignore plain files', async () => {
    touch('store/iris-v3/model.json');
    touch('store/linear/1/model.json');
    mkdirSync(join(root, 'repo', 'iris'), { recursive: true });
    symlinkSync(join(root, 'store', 'iris-v3'), join(root, 'repo', 'iris', '3'));
    symlinkSync(join(root, 'store', 'linear'), join(root, 'repo', 'linear'));
    writeFileSync(join(root, 'repo', 'README.md'), 'not a model');
    const found = await scanRepository(join(root, 'repo'), 'all');
    expect(found).toEqual([
      { name: 'iris', version: 3, dir: join(root, 'repo', 'iris', '3') },
      { name: 'linear', version: 1, dir: join(root, 'repo', 'linear', '1') },
    ]);
  });

  it('should report an empty, an unreadable and a broken model folder each on its own, and still find the others', async () => {
    touch('good/1/model.json');
    mkdirSync(join(root, 'empty'));
    symlinkSync(join(root, 'loop'), join(root, 'loop')); // stat fails with ELOOP, even for root
    mkdirSync(join(root, 'dangling', '1'), { recursive: true });
    symlinkSync(join(root, 'gone.json'), join(root, 'dangling', '1', 'model.json'));
    mkdirSync(join(root, 'badversion'));
    symlinkSync(join(root, 'nowhere'), join(root, 'badversion', '2'));

    const { locations, problems } = await scanModels(root);
    expect(locations.map((m) => `${m.name}/${m.version}`)).toEqual(['good/1']);
    expect(problems).toEqual([
      {
        name: 'badversion',
        message: expect.stringMatching(/^cannot follow the symlink .*badversion\/2: ENOENT/),
      },
      {
        name: 'dangling',
        message: `${join(root, 'dangling', '1', 'model.json')} is a symlink to a missing file`,
      },
      {
        name: 'empty',
        message: expect.stringContaining(`${join(root, 'empty')} has no model.json`),
      },
      { name: 'loop', message: expect.stringMatching(/^cannot follow the symlink .*loop: ELOOP/) },
    ]);
    // At boot every one of them is fatal, and the error names them all.
    const boot = scanRepository(root, 'all');
    await expect(boot).rejects.toThrow(RepositoryError);
    await expect(boot).rejects.toThrow(/^4 model folders hold no usable model:\n {2}cannot follow/);
  });
});

describe('the repository scan with a third engine', () => {
  const fakeEngine: EngineDescriptor = {
    id: 'fake',
    file: 'model.fake',
    platforms: { fakeruntime_fake: 'fake-format' },
    options: () => ({}),
    create: () => Promise.reject(new Error('never created by a scan')),
    label: () => 'Fake Runtime',
  };
  let root: string;
  beforeEach(() => (root = mkdtempSync(join(tmpdir(), 'repo-spec-'))));
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it('should find the file of an engine added to the list it is given, and name it when missing', async () => {
    mkdirSync(join(root, 'mine', '1'), { recursive: true });
    writeFileSync(join(root, 'mine', '1', 'model.fake'), '');
    mkdirSync(join(root, 'empty'));
    const engines = [...ENGINES, fakeEngine];
    const scan = await scanModels(root, engines);
    expect(scan.locations).toEqual([{ name: 'mine', version: 1, dir: join(root, 'mine', '1') }]);
    expect(scan.problems).toEqual([
      {
        name: 'empty',
        message: `Model folder ${join(root, 'empty')} has no model.json, model.onnx or model.fake and no version folder (<positive integer>/model.json, model.onnx or model.fake)`,
      },
    ]);
    // The production list does not know the file: the folder holds no model for it.
    expect((await scanModels(root)).locations).toEqual([]);
  });
});
