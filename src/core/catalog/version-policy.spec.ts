import { versionsToServe } from './version-policy';

describe(versionsToServe.name, () => {
  const onDisk = [3, 1, 10, 2];

  it('should serve the N highest versions, all of them, or the ones listed', () => {
    expect(versionsToServe(onDisk, { latest: { num_versions: 2 } })).toEqual({
      serve: [3, 10],
      missing: [],
    });
    expect(versionsToServe(onDisk, { latest: { num_versions: 9 } }).serve).toEqual([1, 2, 3, 10]);
    expect(versionsToServe(onDisk, { latest: {} } as never).serve).toEqual([10]);
    expect(versionsToServe(onDisk, { all: {} }).serve).toEqual([1, 2, 3, 10]);
    expect(versionsToServe(onDisk, { specific: { versions: [10, 1] } })).toEqual({
      serve: [1, 10],
      missing: [],
    });
  });

  it('should name the specific versions that are not on disk', () => {
    expect(versionsToServe(onDisk, { specific: { versions: [7, 2, 5] } })).toEqual({
      serve: [2],
      missing: [5, 7],
    });
  });

  it('should refuse a policy that is not one of the three, naming the field', () => {
    expect(() => versionsToServe(onDisk, { latest: { num_versions: 0 } })).toThrow(
      'version_policy.latest.num_versions must be a positive integer; got 0',
    );
    expect(() => versionsToServe(onDisk, { specific: { versions: [] } })).toThrow(
      'version_policy.specific.versions must list positive integers; got []',
    );
    expect(() => versionsToServe(onDisk, { all: {}, latest: {} } as never)).toThrow(
      'version_policy must hold exactly one of latest, all or specific; it holds all, latest',
    );
    expect(() => versionsToServe(onDisk, { newest: {} } as never)).toThrow(
      "version_policy must be latest, all or specific; got 'newest'",
    );
  });
});
