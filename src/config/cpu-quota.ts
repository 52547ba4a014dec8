import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';

/** The cores this process may use, and where that number came from (said in the boot log). */
export interface UsableCores {
  cores: number;
  source: string;
}

const CPU_MAX = '/sys/fs/cgroup/cpu.max';

/**
 * The CPUs a cgroup v2 `cpu.max` grants: "200000 100000" (quota and period in µs) is 2,
 * "max 100000" is no quota (undefined). A fraction rounds up, as Kubernetes' resourceFieldRef
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
 * v2 CPU quota when that is smaller. Node 20's libuv reads the affinity mask but not the quota,
 * so inside a pod limited to 2 CPUs it answers the node's 16, and 16 threads would each hold a
 * copy of every model and be throttled by the quota all the same.
 */
export function usableCoresFrom(available: number, cpuMax: string | undefined): UsableCores {
  const quota = cpuMax === undefined ? undefined : parseCpuMax(cpuMax);
  if (quota !== undefined && quota < available) {
    return {
      cores: quota,
      source: `the cgroup CPU quota (${CPU_MAX}: ${cpuMax!.trim()}), below the ${available} of os.availableParallelism()`,
    };
  }
  return { cores: available, source: 'os.availableParallelism()' };
}

let cached: UsableCores | undefined;

/** usableCoresFrom() for this process, read once (the file is absent outside cgroup v2). */
export function usableCores(): UsableCores {
  if (cached) return cached;
  let cpuMax: string | undefined;
  try {
    cpuMax = readFileSync(CPU_MAX, 'utf8');
  } catch {
    cpuMax = undefined;
  }
  cached = usableCoresFrom(availableParallelism(), cpuMax);
  return cached;
}
