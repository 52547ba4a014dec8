import { relativeToRepository } from './repository-paths';

describe(relativeToRepository.name, () => {
  it('should write paths inside the repository relative to it, every time they appear', () => {
    const message =
      'Failed to load /srv/models/m/1/model.onnx: Load model from /srv/models/m/1/model.onnx failed';
    expect(relativeToRepository(message, '/srv/models/m/1')).toBe(
      'Failed to load m/1/model.onnx: Load model from m/1/model.onnx failed',
    );
  });

  it('should replace a relative MODEL_DIR as configured and as resolved', () => {
    const absolute = `${process.cwd()}/models/m/1/model.json`;
    expect(relativeToRepository(`models/m/1: ${absolute}: bad`, 'models/m/1')).toBe(
      'm/1: m/1/model.json: bad',
    );
  });

  it('should leave paths outside the repository, and the root deeper in a path, alone', () => {
    const message = 'weights /srv/models2/x and /data/srv/models/y and (/srv/models/m/1)';
    expect(relativeToRepository(message, '/srv/models/m/1')).toBe(
      'weights /srv/models2/x and /data/srv/models/y and (m/1)',
    );
  });

  it('should keep the separators of a path in a repository at the file system root', () => {
    expect(relativeToRepository('/m/1/model.json: bad', '/m/1')).toBe('m/1/model.json: bad');
  });
});
