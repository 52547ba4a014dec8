import { availableParallelism } from 'node:os';
import { parseCpuMax, usableCores, usableCoresFrom } from './cpu-quota';

describe(parseCpuMax.name, () => {
  it('should read no quota from "max"', () => {
    expect(parseCpuMax('max 100000\n')).toBeUndefined();
    expect(parseCpuMax('max')).toBeUndefined();
  });

  it('should divide the quota by the period', () => {
    expect(parseCpuMax('200000 100000\n')).toBe(2);
    expect(parseCpuMax('100000 100000')).toBe(1);
    expect(parseCpuMax('400000 50000')).toBe(8);
  });

  it('should round a fraction up, as resourceFieldRef rounds limits.cpu, and never give 0', () => {
    expect(parseCpuMax('150000 100000')).toBe(2); // limits.cpu: 1500m
    expect(parseCpuMax('50000 100000')).toBe(1); // 500m
    expect(parseCpuMax('1000 100000')).toBe(1); // 10m
  });

  it('should take the kernel default period when only the quota is written', () => {
    expect(parseCpuMax('300000')).toBe(3);
  });

  it("should read cgroup v1's -1 (and anything it does not understand) as no quota", () => {
    for (const text of ['', 'garbage', '-1 100000', '0 100000', '200000 0', '2.5 1'])
      expect(parseCpuMax(text)).toBeUndefined();
  });
});

describe(usableCoresFrom.name, () => {
  it('should take the quota when it is below the CPUs the process may run on, and say so', () => {
    expect(
      usableCoresFrom(16, { path: '/sys/fs/cgroup/cpu.max', text: '200000 100000\n' }),
    ).toEqual({
      cores: 2,
      source:
        'the cgroup CPU quota (/sys/fs/cgroup/cpu.max: 200000 100000), below the 16 of os.availableParallelism()',
    });
  });

  it('should keep os.availableParallelism() when the quota is higher, absent or unlimited', () => {
    const plain = { cores: 4, source: 'os.availableParallelism()' };
    const cpuMax = (text: string) => ({ path: '/sys/fs/cgroup/cpu.max', text });
    expect(usableCoresFrom(4, cpuMax('800000 100000'))).toEqual(plain);
    expect(usableCoresFrom(4, cpuMax('400000 100000'))).toEqual(plain);
    expect(usableCoresFrom(4, cpuMax('max 100000'))).toEqual(plain);
    expect(usableCoresFrom(4, undefined)).toEqual(plain);
  });

  it('should read a cgroup v1 quota given as "<cfs_quota_us> <cfs_period_us>"', () => {
    const v1 = (text: string) => ({ path: '/sys/fs/cgroup/cpu/cpu.cfs_quota_us', text });
    expect(usableCoresFrom(8, v1('300000 100000')).cores).toBe(3);
    expect(usableCoresFrom(8, v1('-1 100000')).cores).toBe(8);
  });

  it('should never answer more than this process may use', () => {
    const { cores } = usableCores();
    expect(cores).toBeGreaterThanOrEqual(1);
    expect(cores).toBeLessThanOrEqual(availableParallelism());
  });
});
