import { readFileSync } from 'node:fs';

/** Linux's USER_HZ: /proc reports CPU time in these ticks (100 on every Linux we run on). */
const TICKS_PER_SECOND = 100;

/** utime + stime of a /proc stat file, in milliseconds. */
function cpuMsOf(statFile: string): number {
  const stat = readFileSync(statFile, 'utf8');
  // Fields after the command name (which may hold spaces): state is field 3, utime 14, stime 15.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / TICKS_PER_SECOND;
}

/** CPU milliseconds (user + system) one thread of a process has used (Linux only). */
export const threadCpuMs = (pid: number, tid = pid) => cpuMsOf(`/proc/${pid}/task/${tid}/stat`);

/** CPU milliseconds (user + system) all threads of a process have used (Linux only). */
export const processCpuMs = (pid: number) => cpuMsOf(`/proc/${pid}/stat`);
