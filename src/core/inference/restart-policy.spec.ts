import { BootFailures, DEFAULT_RESTART } from './restart-policy';

const none = () => new Map<string, string>();
const failing = (...keys: string[]) => new Map(keys.map((key) => [key, `cannot load ${key}`]));

describe(BootFailures.name, () => {
  it('should double the wait after each failure up to the longest wait, then stop at the cap', () => {
    const failures = new BootFailures({ baseDelayMs: 100, maxDelayMs: 500, maxBootFailures: 6 });
    const decisions = Array.from({ length: 6 }, () => failures.record(none()));
    expect(decisions.slice(0, 5)).toEqual([
      { retry: true, delayMs: 100, failures: 1 },
      { retry: true, delayMs: 200, failures: 2 },
      { retry: true, delayMs: 400, failures: 3 },
      { retry: true, delayMs: 500, failures: 4 },
      { retry: true, delayMs: 500, failures: 5 },
    ]);
    expect(decisions[5]).toEqual({ retry: false, failures: 6, versions: new Map() });
  });

  it('should by default try three times, one then two seconds apart', () => {
    expect(DEFAULT_RESTART).toEqual({ baseDelayMs: 1000, maxDelayMs: 30_000, maxBootFailures: 3 });
    const failures = new BootFailures();
    expect(failures.record(failing('a/1'))).toMatchObject({ retry: true, delayMs: 1000 });
    expect(failures.record(failing('a/1'))).toMatchObject({ retry: true, delayMs: 2000 });
    expect(failures.record(failing('a/1'))).toMatchObject({ retry: false, failures: 3 });
  });

  it('should blame at the cap every version that failed in the attempts counted, with its last error', () => {
    const failures = new BootFailures({ ...DEFAULT_RESTART, maxBootFailures: 3 });
    failures.record(failing('a/1'));
    failures.record(new Map([['b/2', 'first']]));
    const decision = failures.record(new Map([['b/2', 'last']]));
    expect(decision).toEqual({
      retry: false,
      failures: 3,
      versions: new Map([
        ['a/1', 'cannot load a/1'],
        ['b/2', 'last'],
      ]),
    });
    // Those versions are dropped: counting starts again for the thread started without them.
    expect(failures.failures).toBe(0);
    expect(failures.record(none())).toMatchObject({ retry: true, failures: 1 });
  });

  it('should keep counting a thread that cannot start at all: it is given up for good', () => {
    const failures = new BootFailures({ ...DEFAULT_RESTART, maxBootFailures: 2 });
    failures.record(none());
    expect(failures.record(none())).toEqual({ retry: false, failures: 2, versions: new Map() });
    expect(failures.failures).toBe(2);
  });

  it('should start counting again once a replacement serves', () => {
    const failures = new BootFailures({ ...DEFAULT_RESTART, maxBootFailures: 3 });
    failures.record(failing('a/1'));
    failures.record(failing('a/1'));
    failures.reset();
    expect(failures.record(none())).toEqual({ retry: true, delayMs: 1000, failures: 1 });
  });
});
