import { ServingError } from '../../errors/serving-error';
import { Tensor } from '../../tensor/tensor';
import {
  BatchEvent,
  BatchScheduler,
  BatchTarget,
  ExecutionEvent,
  JobResult,
  ThreadSource,
} from './batch-scheduler';
import { RunReport } from './thread-protocol';

/** A fake thread that doubles every input value and records each batch it was given. */
class FakeThreads implements ThreadSource {
  runs: { key: string; shape: number[] }[] = [];
  private free: number;
  private release: (() => void)[] = [];
  /** When held, batches wait until `finish()`; otherwise they end in the next microtask. */
  constructor(
    readonly size: number,
    private hold = false,
    /** Fail any batch holding a negative value, the way an engine fails a whole batch. */
    private refuse = false,
  ) {
    this.free = size;
  }

  idleThread() {
    if (this.free === 0) return undefined;
    return {
      run: async (key: string, inputs: Tensor[]): Promise<RunReport> => {
        this.free--;
        this.runs.push({ key, shape: inputs[0].shape });
        if (this.hold) await new Promise<void>((resolve) => this.release.push(resolve));
        this.free++;
        const [x] = inputs;
        if (this.refuse && Array.from(x.data as Float32Array).some((v) => v < 0)) {
          throw new ServingError('INVALID_ARGUMENT', `negative value in a batch of ${x.shape[0]}`);
        }
        const data = Float32Array.from(x.data as Float32Array, (v) => v * 2);
        return {
          outputs: [{ ...x, name: 'y', data }],
          seconds: 0.001,
          compute: { inputNs: 1, inferNs: 2, outputNs: 3 },
        };
      },
    };
  }

  /** Ends the oldest held batch only: one thread frees up while the others still run. */
  finishOne(): void {
    this.release.shift()?.();
  }

  finish(): void {
    this.release.splice(0).forEach((resolve) => resolve());
  }
}

const target = (name: string, batchable = true): BatchTarget => ({
  key: `${name}/1`,
  name,
  version: 1,
  batchable,
});
const rows = (values: number[][]): Tensor[] => [
  {
    name: 'x',
    dtype: 'float32',
    shape: [values.length, values[0].length],
    data: Float32Array.from(values.flat()),
  },
];
const values = (result: { outputs: Tensor[] }) =>
  Array.from(result.outputs[0].data as Float32Array);
const range = (n: number) => Array.from({ length: n }, (_, i) => i);
const tick = () => new Promise((resolve) => setImmediate(resolve));

describe(BatchScheduler.name, () => {
  it('should merge requests queued behind a busy thread and split the answers back in order', async () => {
    const threads = new FakeThreads(1, true);
    const events: BatchEvent[] = [];
    const scheduler = new BatchScheduler(threads, { maxRows: 32, timeoutMs: 0 }, (e) =>
      events.push(e),
    );
    const first = scheduler.submit(target('a'), rows([[1, 1]]));
    const queued = [
      scheduler.submit(target('a'), rows([[2, 3]])),
      scheduler.submit(
        target('a'),
        rows([
          [4, 5],
          [6, 7],
        ]),
      ),
      scheduler.submit(target('a'), rows([[8, 9]])),
    ];
    expect(scheduler.depths().get('a/1')?.requests).toBe(3);
    threads.finish();
    await first;
    await tick();
    threads.finish();
    const answers = await Promise.all(queued);
    expect(answers.map(values)).toEqual([
      [4, 6],
      [8, 10, 12, 14],
      [16, 18],
    ]);
    expect(answers[1].outputs[0].shape).toEqual([2, 2]);
    expect(threads.runs.map((r) => r.shape[0])).toEqual([1, 4]);
    expect(events.map((e) => e.rows)).toEqual([1, 4]);
    expect(events[1].waits).toHaveLength(3);
  });

  it('should never put more than maxRows rows in one batch', async () => {
    const threads = new FakeThreads(1, true);
    const scheduler = new BatchScheduler(threads, { maxRows: 3, timeoutMs: 0 });
    const all = [
      scheduler.submit(target('a'), rows([[0, 0]])),
      ...[1, 2, 3, 4, 5].map((v) => scheduler.submit(target('a'), rows([[v, v]]))),
    ];
    for (let i = 0; i < 4; i++) {
      threads.finish();
      await tick();
    }
    await Promise.all(all);
    expect(threads.runs.map((r) => r.shape[0])).toEqual([1, 3, 2]);
  });

  it('should give each thread its share of the queue, so a second thread is not left idle', async () => {
    const threads = new FakeThreads(2, true);
    const scheduler = new BatchScheduler(threads, { maxRows: 32, timeoutMs: 0 });
    // Both threads busy with one request each, then 16 requests queue behind them.
    const all = [1, 2].map((v) => scheduler.submit(target('a'), rows([[v, v]])));
    all.push(...range(16).map((v) => scheduler.submit(target('a'), rows([[v, v]]))));
    expect(threads.runs.map((r) => r.shape[0])).toEqual([1, 1]);
    // The first thread to free up takes half of the 16, leaving the rest for the other one.
    threads.finishOne();
    await tick();
    expect(threads.runs.map((r) => r.shape[0])).toEqual([1, 1, 8]);
    threads.finishOne();
    await tick();
    expect(threads.runs.map((r) => r.shape[0])).toEqual([1, 1, 8, 4]);
    // Each later batch takes its share of what is left (4 rows: 2, then 1 of the 2 after it).
    threads.finish();
    await tick();
    expect(threads.runs.map((r) => r.shape[0])).toEqual([1, 1, 8, 4, 2, 1]);
    threads.finish();
    await tick();
    threads.finish();
    expect((await Promise.all(all)).map(values)).toEqual([
      [2, 2],
      [4, 4],
      ...range(16).map((v) => [2 * v, 2 * v]),
    ]);
  });

  it('should not merge requests of a model that is not batchable, or of different inner shapes', async () => {
    const threads = new FakeThreads(1, true);
    const scheduler = new BatchScheduler(threads, { maxRows: 32, timeoutMs: 0 });
    const all = [
      scheduler.submit(target('busy'), rows([[0, 0]])),
      scheduler.submit(target('solo', false), rows([[1, 1]])),
      scheduler.submit(target('solo', false), rows([[2, 2]])),
      scheduler.submit(target('ragged'), rows([[1, 2]])),
      scheduler.submit(target('ragged'), rows([[1, 2, 3]])),
    ];
    for (let i = 0; i < 6; i++) {
      threads.finish();
      await tick();
    }
    const answers = await Promise.all(all);
    expect(threads.runs.map((r) => `${r.key}:${r.shape.join('x')}`)).toEqual([
      'busy/1:1x2',
      'solo/1:1x2',
      'solo/1:1x2',
      'ragged/1:1x2',
      'ragged/1:1x3',
    ]);
    expect(values(answers[4])).toEqual([2, 4, 6]);
  });

  it('should serve the queue whose oldest request waited longest first', async () => {
    const threads = new FakeThreads(1, true);
    const scheduler = new BatchScheduler(threads, { maxRows: 32, timeoutMs: 0 });
    const all = [
      scheduler.submit(target('busy'), rows([[0, 0]])),
      scheduler.submit(target('b'), rows([[1, 1]])),
      scheduler.submit(target('a'), rows([[2, 2]])),
      scheduler.submit(target('b'), rows([[3, 3]])),
    ];
    for (let i = 0; i < 4; i++) {
      threads.finish();
      await tick();
    }
    await Promise.all(all);
    expect(threads.runs.map((r) => `${r.key}:${r.shape[0]}`)).toEqual([
      'busy/1:1',
      'b/1:2',
      'a/1:1',
    ]);
  });

  it('should wait up to timeoutMs for a fuller batch, and no longer', async () => {
    const threads = new FakeThreads(1);
    const scheduler = new BatchScheduler(threads, { maxRows: 4, timeoutMs: 40 });
    const started = performance.now();
    const a = scheduler.submit(target('a'), rows([[1, 1]]));
    const b = scheduler.submit(target('a'), rows([[2, 2]]));
    await tick();
    expect(threads.runs).toHaveLength(0); // threads are idle, but the batch may still grow
    await Promise.all([a, b]);
    expect(performance.now() - started).toBeGreaterThanOrEqual(35);
    expect(threads.runs.map((r) => r.shape[0])).toEqual([2]);
    // A full batch goes at once.
    const full = [1, 2, 3, 4].map((v) => scheduler.submit(target('a'), rows([[v, v]])));
    await tick();
    expect(threads.runs.map((r) => r.shape[0])).toEqual([2, 4]);
    await Promise.all(full);
  });

  it('should drop a queued request whose client left, before it runs', async () => {
    const threads = new FakeThreads(1, true);
    const scheduler = new BatchScheduler(threads, { maxRows: 32, timeoutMs: 0 });
    const running = scheduler.submit(target('a'), rows([[1, 1]]));
    const client = new AbortController();
    const gone = scheduler.submit(target('a'), rows([[2, 2]]), client.signal);
    const late = new AbortController();
    const deadline = new ServingError('DEADLINE_EXCEEDED', 'too late');
    const expired = scheduler.submit(target('a'), rows([[3, 3]]), late.signal);
    client.abort();
    late.abort(deadline);
    await expect(gone).rejects.toMatchObject({ code: 'CANCELLED' });
    await expect(expired).rejects.toBe(deadline);
    expect(scheduler.depths().size).toBe(0);
    threads.finish();
    await running;
    await tick();
    expect(threads.runs).toHaveLength(1);
    await expect(
      scheduler.submit(target('a'), rows([[1, 1]]), AbortSignal.abort()),
    ).rejects.toMatchObject({ code: 'CANCELLED' });
  });

  it('should refuse the queued requests of a discarded version with the error given, and leave the others queued', async () => {
    const threads = new FakeThreads(1, true);
    const scheduler = new BatchScheduler(threads, { maxRows: 32, timeoutMs: 0 });
    const running = scheduler.submit(target('a'), rows([[1, 1]]));
    const doomed = [
      scheduler.submit(target('a'), rows([[2, 2]])),
      scheduler.submit(target('a'), rows([[3, 3]])),
    ];
    const other = scheduler.submit(target('b'), rows([[4, 4]]));
    const gone = new ServingError('UNAVAILABLE', 'a/1 can no longer be loaded; it is not served');
    scheduler.discard('a/1', gone);
    for (const request of doomed) await expect(request).rejects.toBe(gone);
    expect(scheduler.depths().has('a/1')).toBe(false);
    threads.finish();
    expect(values(await running)).toEqual([2, 2]); // already running: it ends normally
    await tick();
    threads.finish();
    expect(values(await other)).toEqual([8, 8]);
  });

  it('should fail every request of a batch whose thread failed', async () => {
    const failing: ThreadSource = {
      size: 1,
      idleThread: () => ({
        run: () => Promise.reject(new ServingError('UNAVAILABLE', 'thread died')),
      }),
    };
    const scheduler = new BatchScheduler(failing, { maxRows: 32, timeoutMs: 0 });
    await expect(scheduler.submit(target('a'), rows([[1, 1]]))).rejects.toThrow('thread died');
  });

  it('should rerun a failed merged batch request by request, so only the bad request fails', async () => {
    const threads = new FakeThreads(1, true, true);
    const events: BatchEvent[] = [];
    const scheduler = new BatchScheduler(threads, { maxRows: 32, timeoutMs: 0 }, (e) =>
      events.push(e),
    );
    const first = scheduler.submit(target('a'), rows([[0, 0]]));
    const queued = [
      [1, 1],
      [-1, 2],
      [3, 3],
    ].map((row) => scheduler.submit(target('a'), rows([row])));
    const settled = Promise.allSettled(queued);
    for (let i = 0; i < 6; i++) {
      threads.finish();
      await tick();
    }
    await first;
    const [good, bad, alsoGood] = await settled;
    expect(good).toMatchObject({ status: 'fulfilled' });
    expect(values((good as PromiseFulfilledResult<{ outputs: Tensor[] }>).value)).toEqual([2, 2]);
    expect(values((alsoGood as PromiseFulfilledResult<{ outputs: Tensor[] }>).value)).toEqual([
      6, 6,
    ]);
    expect(bad).toMatchObject({
      status: 'rejected',
      reason: { code: 'INVALID_ARGUMENT', message: 'negative value in a batch of 1' },
    });
    // The merged batch of 3, then each of its requests alone, in arrival order.
    expect(events.map((e) => e.rows)).toEqual([1, 3, 1, 1, 1]);
    expect(threads.runs.slice(2).map((r) => r.shape[0])).toEqual([1, 1, 1]);
  });

  it('should report each batch that ran to the end once, failed runs not, and give each request its own queue time', async () => {
    const threads = new FakeThreads(1, true, true);
    const executions: ExecutionEvent[] = [];
    const scheduler = new BatchScheduler(threads, { maxRows: 32, timeoutMs: 0 }, undefined, (e) =>
      executions.push(e),
    );
    const first = scheduler.submit(target('a'), rows([[0, 0]]));
    const queued = [
      [1, 1],
      [-1, 2],
      [3, 3],
    ].map((row) => scheduler.submit(target('a'), rows([row])));
    const settled = Promise.allSettled(queued);
    for (let i = 0; i < 6; i++) {
      threads.finish();
      await tick();
    }
    const [good] = await settled;
    // The first alone, then (the merged batch of 3 failed) the two good requests alone.
    expect(executions.map((e) => [e.model, e.version, e.rows])).toEqual([
      ['a', 1, 1],
      ['a', 1, 1],
      ['a', 1, 1],
    ]);
    expect(executions[0].compute).toEqual({ inputNs: 1, inferNs: 2, outputNs: 3 });
    const early = await first;
    const late = (good as PromiseFulfilledResult<JobResult>).value;
    expect(early.compute).toEqual({ inputNs: 1, inferNs: 2, outputNs: 3 });
    // It waited behind the first request's run and the failed merged run.
    expect(late.queueNs).toBeGreaterThan(early.queueNs);
  });

  it('should not rerun a request of a failed merged batch whose client left meanwhile', async () => {
    const threads = new FakeThreads(1, true, true);
    const scheduler = new BatchScheduler(threads, { maxRows: 32, timeoutMs: 0 });
    const first = scheduler.submit(target('a'), rows([[0, 0]]));
    const client = new AbortController();
    const gone = scheduler.submit(target('a'), rows([[1, 1]]), client.signal);
    const bad = scheduler.submit(target('a'), rows([[-1, 1]]));
    threads.finish();
    await first;
    await tick(); // the merged batch of 2 is running
    client.abort();
    threads.finish();
    await expect(gone).rejects.toMatchObject({ code: 'CANCELLED' });
    await tick();
    threads.finish();
    await expect(bad).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    expect(threads.runs.map((r) => r.shape[0])).toEqual([1, 2, 1]);
  });
});
