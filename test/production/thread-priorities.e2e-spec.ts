import { readdirSync, readFileSync } from 'node:fs';
import { getPriority } from 'node:os';
import { runServer } from './utils/server';

/** Each thread of a process: its name (comm) and nice value, from /proc. */
function threadsOf(pid: number) {
  return readdirSync(`/proc/${pid}/task`).map((task) => {
    const stat = readFileSync(`/proc/${pid}/task/${task}/stat`, 'utf8');
    // "tid (comm) state ppid ...": fields after the name, state first; nice is field 19.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return {
      tid: Number(task),
      name: stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')),
      nice: Number(fields[16]),
    };
  });
}

/**
 * Under load the main thread accepts, reads and answers every request (and every health probe),
 * so it runs above every other thread of the server: the inference threads at nice 10, the JSON
 * parse thread and V8's and libuv's helper threads at 5 (src/core/inference/thread-priority.ts).
 */
describe('thread priorities (e2e, built server)', () => {
  it('should run every thread but the main one below it, the inference threads lowest', async () => {
    const server = await runServer({ INFERENCE_THREADS: '2', JSON_PARSE_THREADS: '1' });
    try {
      const threads = threadsOf(server.child.pid!);
      const main = threads.find((t) => t.tid === server.child.pid)!;
      // The process's own priority, which it inherits from this one (0 unless run under nice).
      expect(main.nice).toBe(getPriority());
      const others = threads.filter((t) => t !== main);
      expect(others.filter((t) => t.name === 'inference').map((t) => t.nice)).toEqual([10, 10]);
      expect(others.filter((t) => t.name === 'json-parse').map((t) => t.nice)).toEqual([5]);
      // V8's platform threads at least (GC, compiler), whatever Node names them.
      const helpers = others.filter((t) => t.name !== 'inference' && t.name !== 'json-parse');
      expect(helpers.length).toBeGreaterThanOrEqual(4);
      expect(helpers.filter((t) => t.nice < 5)).toEqual([]);
    } finally {
      server.stop();
    }
  });
});
