import { Logger } from '@nestjs/common';
import { ServingError } from '../../errors/serving-error';
import { BatchScheduler } from './batch-scheduler';
import { InferencePool, VersionFailure } from './inference-pool';
import { InferenceThread } from './inference-thread';
import type { LoadReport } from './thread-protocol';
import { ThreadLifecycle } from './thread-state';

jest.mock('./inference-thread', () => ({ InferenceThread: jest.fn() }));

const REPORT: LoadReport = {
  platform: 'tensorflowjs_layers',
  backend: 'wasm',
  signature: { inputs: [], outputs: [] },
  batchMajor: true,
  loadMs: 1,
  warmupMs: 1,
};

/**
 * A stand-in for a worker thread with the real state machine: it starts unless `startFails`,
 * loads every version but those in `unloadable`, and exits when closed or killed.
 */
class MockThread {
  private readonly lifecycle: ThreadLifecycle;
  readonly started: Promise<void>;
  backend = 'wasm';
  stats = { tensors: 0, bytes: 0 };

  constructor(
    readonly index: number,
    _options: unknown,
    private readonly onExit: (thread: MockThread, code: number) => void,
  ) {
    this.lifecycle = new ThreadLifecycle(`inference thread ${index}`);
    this.started = startFails
      ? Promise.reject(new Error('the wasm backend did not start'))
      : Promise.resolve();
    this.started.catch(() => undefined);
    spawned.push(this);
  }

  get state() {
    return this.lifecycle.state;
  }
  get alive() {
    return this.lifecycle.alive;
  }
  get ready() {
    return this.lifecycle.serving;
  }
  get busy() {
    return this.lifecycle.state === 'busy';
  }
  get served() {
    return this.lifecycle.served;
  }
  loading() {
    this.lifecycle.to('loading');
  }
  serve() {
    this.lifecycle.to('idle');
  }
  busyUntilNow() {
    return 0;
  }
  load(key: string): Promise<LoadReport> {
    loaded.push(`${this.index}:${key}`);
    if (unloadable.has(key)) return Promise.reject(new Error(`no model file for ${key}`));
    return Promise.resolve(REPORT);
  }
  unload(key: string): Promise<boolean> {
    unloaded.push(`${this.index}:${key}`);
    return Promise.resolve(true);
  }
  run(key: string) {
    this.lifecycle.to('busy');
    ran.push(`${this.index}:${key}`);
    return new Promise(() => undefined); // a batch that never ends
  }
  close(): Promise<void> {
    if (this.state !== 'exited') {
      this.lifecycle.to('closing');
      this.exit(0);
    }
    return Promise.resolve();
  }
  /** Ends the thread the way a crash would. */
  exit(code: number): void {
    this.lifecycle.to('exited');
    this.onExit(this, code);
  }
}

let spawned: MockThread[];
let startFails: boolean;
let unloadable: Set<string>;
let unloaded: string[];
let loaded: string[];
let ran: string[];

describe(InferencePool.name, () => {
  let pool: InferencePool;
  let errors: jest.SpyInstance;
  let warnings: jest.SpyInstance;
  const restart = { baseDelayMs: 100, maxDelayMs: 1000, maxBootFailures: 3 };

  beforeEach(async () => {
    jest.useFakeTimers();
    errors = jest.spyOn(Logger.prototype, 'error').mockImplementation();
    warnings = jest.spyOn(Logger.prototype, 'warn').mockImplementation();
    jest.spyOn(Logger.prototype, 'log').mockImplementation();
    spawned = [];
    startFails = false;
    unloadable = new Set();
    unloaded = [];
    loaded = [];
    ran = [];
    jest
      .mocked(InferenceThread)
      .mockImplementation(
        (index, options, onExit) =>
          new MockThread(index, options, onExit as never) as unknown as InferenceThread,
      );
    pool = new InferencePool({ threads: 2, engines: {}, restart });
    await pool.start();
  });
  afterEach(async () => {
    await pool.close();
    jest.useRealTimers();
    jest.restoreAllMocks();
  });

  /** Runs the restart timers due within `ms` and every boot they start. */
  const elapse = (ms: number) => jest.advanceTimersByTimeAsync(ms);
  const states = () => pool.snapshot().map((t) => t.state);

  it('should replace a thread that served and died at once, and count it', async () => {
    await pool.load('iris/2', '/models/iris/2');
    spawned[0].exit(1);
    await elapse(0);
    expect(spawned).toHaveLength(3);
    expect(states()).toEqual(['idle', 'idle']);
    expect(pool.replacements).toBe(1);
  });

  it('should give up a thread that cannot start after the cap, with growing waits, and keep serving on the others', async () => {
    startFails = true;
    spawned[0].exit(1);
    await elapse(0);
    expect(spawned).toHaveLength(3); // the replacement, which failed
    await elapse(99);
    expect(spawned).toHaveLength(3);
    await elapse(1);
    expect(spawned).toHaveLength(4); // after 100 ms
    await elapse(199);
    expect(spawned).toHaveLength(4);
    await elapse(1);
    expect(spawned).toHaveLength(5); // after 200 ms more; its failure is the third
    await elapse(60_000);
    expect(spawned).toHaveLength(5);
    expect(pool.replacements).toBe(3);
    expect(states()).toEqual(['exited', 'idle']);
    expect(pool.serving).toBe(true);
    expect(pool.unavailable()).toBeUndefined();
    expect(errors.mock.calls).toEqual([
      [
        'Inference thread 0 could not start 3 time(s) in a row (the wasm backend did not start); it is not started again',
      ],
    ]);
  });

  it('should refuse queued and new requests with UNAVAILABLE once no thread is left, never leave them waiting', async () => {
    const scheduler = new BatchScheduler(pool, { maxRows: 8, timeoutMs: 0 });
    pool.onIdle = () => scheduler.pump();
    startFails = true;
    spawned[0].exit(1);
    spawned[1].exit(1);
    const target = { key: 'iris/2', name: 'iris', version: 2, batchable: true };
    const input = [
      { name: 'x', dtype: 'float32' as const, shape: [1, 1], data: new Float32Array(1) },
    ];
    const queued = scheduler.submit(target, input);
    queued.catch(() => undefined);
    await elapse(10_000);
    expect(pool.serving).toBe(false);
    expect(pool.replacements).toBe(6);
    const reason =
      /^no inference thread is running \(inference thread 0 could not start 3 time\(s\) in a row: the wasm backend did not start; inference thread 1 could not start 3 time\(s\) in a row: the wasm backend did not start\); the server must be restarted$/;
    expect(pool.unavailable()).toMatch(reason);
    await expect(queued).rejects.toThrow(ServingError);
    await expect(queued).rejects.toMatchObject({
      code: 'UNAVAILABLE',
      message: expect.stringMatching(reason) as string,
    });
    await expect(scheduler.submit(target, input)).rejects.toMatchObject({ code: 'UNAVAILABLE' });
  });

  it('should drop the versions a replacement cannot load at the cap, report them once, and start it again without them', async () => {
    const failures: VersionFailure[][] = [];
    pool.onVersionsFailed = (versions) => failures.push(versions);
    await pool.load('iris/2', '/models/iris/2');
    await pool.load('gone/1', '/models/gone/1');
    unloadable.add('gone/1');
    spawned[0].exit(1);
    await elapse(10_000);
    // The death, two retries, and the start without the version.
    expect(pool.replacements).toBe(4);
    expect(spawned).toHaveLength(6);
    expect(failures).toEqual([[{ key: 'gone/1', error: 'no model file for gone/1' }]]);
    expect(errors).toHaveBeenCalledTimes(1);
    expect(unloaded).toContain('1:gone/1'); // the healthy thread frees it too
    expect(states()).toEqual(['idle', 'idle']);
    // The next death is an ordinary replacement: the version is no longer asked for.
    spawned[5].exit(1);
    await elapse(0);
    expect(pool.replacements).toBe(5);
    expect(states()).toEqual(['idle', 'idle']);
  });

  it('should count only consecutive failures: a replacement that serves starts the count again', async () => {
    await pool.load('flaky/1', '/models/flaky/1');
    unloadable.add('flaky/1');
    spawned[0].exit(1);
    await elapse(0);
    await elapse(100); // second attempt fails too
    unloadable.clear();
    await elapse(200); // third attempt serves
    expect(states()).toEqual(['idle', 'idle']);
    unloadable.add('flaky/1');
    spawned.at(-1)!.exit(1);
    await elapse(0);
    await elapse(100);
    // Two failures since it served: under the cap, so a third attempt is still to come.
    expect(pool.snapshot()[0].state).not.toBe('idle');
    unloadable.clear();
    await elapse(200);
    expect(states()).toEqual(['idle', 'idle']);
  });

  it('should load a version into its count of least loaded threads only, and unload it only there', async () => {
    await pool.load('big/1', '/models/big/1', 1);
    await pool.load('small/1', '/models/small/1');
    await pool.load('other/1', '/models/other/1', 1);
    await pool.load('wide/1', '/models/wide/1', 5); // more than there are: every thread
    expect(loaded).toEqual([
      '0:big/1',
      '1:small/1', // the least loaded first
      '0:small/1',
      '1:other/1', // thread 0 holds two versions, thread 1 one
      '0:wide/1',
      '1:wide/1',
    ]);
    expect(pool.snapshot().map((t) => t.versions)).toEqual([
      ['big/1', 'small/1', 'wide/1'],
      ['small/1', 'other/1', 'wide/1'],
    ]);
    expect(['big/1', 'small/1', 'other/1'].map((key) => pool.instances(key))).toEqual([1, 2, 1]);
    expect(warnings).toHaveBeenCalledWith(
      'wide/1: instance_group count 5 is more than the 2 inference thread(s) (INFERENCE_THREADS); it is held by all 2',
    );
    expect(pool.holding('big/1')).toBe(1);
    await pool.unload('big/1');
    expect(unloaded).toEqual(['0:big/1']);
    expect(pool.instances('big/1')).toBe(0);
  });

  it('should give a batch of a version only to an idle thread that holds it', async () => {
    const scheduler = new BatchScheduler(pool, { maxRows: 8, timeoutMs: 0 });
    pool.onIdle = () => scheduler.pump();
    await pool.load('big/1', '/models/big/1', 1);
    await pool.load('small/1', '/models/small/1');
    const input = () => [
      { name: 'x', dtype: 'float32' as const, shape: [1, 1], data: new Float32Array(1) },
    ];
    const big = { key: 'big/1', name: 'big', version: 1, batchable: true };
    const small = { key: 'small/1', name: 'small', version: 1, batchable: true };
    void scheduler.submit(big, input());
    void scheduler.submit(big, input()); // thread 1 is idle but does not hold big/1: it waits
    void scheduler.submit(small, input());
    expect(ran).toEqual(['0:big/1', '1:small/1']);
    expect(scheduler.depths().get('big/1')?.requests).toBe(1);
  });

  it('should reload in a replacement only the versions its slot held', async () => {
    await pool.load('big/1', '/models/big/1', 1);
    await pool.load('small/1', '/models/small/1');
    loaded = [];
    spawned[1].exit(1);
    await elapse(0);
    expect(loaded).toEqual(['1:small/1']);
    spawned[0].exit(1);
    await elapse(0);
    expect(loaded).toEqual(['1:small/1', '0:big/1', '0:small/1']);
    expect(pool.instances('big/1')).toBe(1);
    expect(states()).toEqual(['idle', 'idle']);
  });

  it('should call a version unavailable once every thread holding it is given up, and only that one', async () => {
    await pool.load('big/1', '/models/big/1', 1);
    await pool.load('small/1', '/models/small/1');
    startFails = true;
    spawned[0].exit(1);
    await elapse(10_000);
    expect(states()).toEqual(['exited', 'idle']);
    expect(pool.unavailable('big/1')).toMatch(
      /^no inference thread holding big\/1 is running \(inference thread 0 could not start 3 time\(s\) in a row: the wasm backend did not start\); the server must be restarted$/,
    );
    expect(pool.unavailable('small/1')).toBeUndefined();
    expect(pool.unavailable()).toBeUndefined();
  });

  it('should start nothing more once closing, even with a restart pending', async () => {
    startFails = true;
    spawned[0].exit(1);
    await elapse(0);
    await pool.close();
    await elapse(60_000);
    expect(spawned).toHaveLength(3);
  });
});
