import { Logger } from '@nestjs/common';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RepositoryError, scanRepository } from './model-repository';

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
});
