import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';

/** The cores this process may use, and where that number came from (said in the boot log). */
export interface UsableCores {
  cores: number;
  source: string;
}

/** A cgroup's CPU quota as read from its files: where, and the text as "<quota> <period>". */
export interface CpuQuotaFile {
  path: string;
  text: string;
}

const CPU_MAX = '/sys/fs/cgroup/cpu.max';
// cgroup v1, still on older nodes: the container's own cpu controller is mounted here.
const CFS_QUOTA = '/sys/fs/cgroup/cpu/cpu.cfs_quota_us';
const CFS_PERIOD = '/sys/fs/cgroup/cpu/cpu.cfs_period_us';

/**
 * The CPUs a cgroup v2 `cpu.max` grants: "200000 100000" (quota and period in µs) is 2,
 * "max 100000" is no quota (undefined); cgroup v1's quota "-1" (none) reads as no quota too. A fraction rounds up, as Kubernetes' resourceFieldRef
 * rounds limits.cpu (1500m gives 2), so the default and a manifest that sets INFERENCE_THREADS
 * from the limit agree; the quota still caps what the threads use together. Anything unreadable
 * is no quota: guessing low would starve a machine that has no limit.
 */
export function parseCpuMax(text: string): number | undefined {
  const match = /^\s*(max|\d+)(?:\s+(\d+))?\s*$/.exec(text);
  if (!match || match[1] === 'max') return undefined;
  const quota = Number(match[1]);
  const period = match[2] === undefined ? 100_000 : Number(match[2]);
  if (quota <= 0 || period <= 0) return undefined;
  return Math.max(1, Math.ceil(quota / period));
}

/**
 * os.availableParallelism() (the CPUs this process may be scheduled on), lowered to the cgroup
 * CPU quota when that is smaller. Node 20's libuv reads the affinity mask but not the quota,
 * so inside a pod limited to 2 CPUs it answers the node's 16, and 16 threads would each hold a
 * copy of every model and be throttled by the quota all the same.
 */
export function usableCoresFrom(available: number, quotaFile?: CpuQuotaFile): UsableCores {
  const quota = quotaFile === undefined ? undefined : parseCpuMax(quotaFile.text);
  if (quota !== undefined && quota < available) {
    return {
      cores: quota,
      source: `the cgroup CPU quota (${quotaFile!.path}: ${quotaFile!.text.trim()}), below the ${available} of os.availableParallelism()`,
    };
  }
  return { cores: available, source: 'os.availableParallelism()' };
}

const read = (path: string) => {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return undefined;
  }
};

/** This process's cgroup CPU quota files: v2's cpu.max, else v1's quota and period. */
function readQuotaFile(): CpuQuotaFile | undefined {
  const cpuMax = read(CPU_MAX);
  if (cpuMax !== undefined) return { path: CPU_MAX, text: cpuMax };
  const [quota, period] = [read(CFS_QUOTA), read(CFS_PERIOD)];
  if (quota === undefined || period === undefined) return undefined;
  return { path: `${CFS_QUOTA} and cpu.cfs_period_us`, text: `${quota} ${period}` };
}

let cached: UsableCores | undefined;

/** usableCoresFrom() for this process, read once. */
export function usableCores(): UsableCores {
  cached ??= usableCoresFrom(availableParallelism(), readQuotaFile());
  return cached;
}
