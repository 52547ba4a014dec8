import { EventEmitter } from 'node:events';
import { loadConfig } from './config/app-config';
import { hotReloadLine, runPrimary, workerCount } from './cluster';

/**
 * Node's cluster module, faked for runPrimary: fork() makes workers that stay listed in
 * cluster.workers after their 'exit', as Node keeps them until their IPC channel has closed too
 * (which, on a loaded machine, can come after the exit).
 */
jest.mock('node:cluster', () => {
  const { EventEmitter: Emitter } = jest.requireActual<typeof import('node:events')>('node:events');
  const fake = Object.assign(new Emitter(), {
    isWorker: false,
    isPrimary: true,
    workers: {} as Record<number, unknown>,
    forked: [] as { id: number; process: { pid: number; kill: jest.Mock }; kill: jest.Mock }[],
    fork() {
      const id = fake.forked.length + 1;
      const worker = { id, process: { pid: 1000 + id, kill: jest.fn() }, kill: jest.fn() };
      fake.workers[id] = worker;
      fake.forked.push(worker);
      return worker;
    },
  });
  return { __esModule: true, default: fake };
});

describe(workerCount.name, () => {
  it('should start as many workers as asked up to the cores', () => {
    expect(workerCount(2, 2)).toEqual({ count: 2 });
    expect(workerCount(3, 8)).toEqual({ count: 3 });
  });

  it('should cap at the cores and say why', () => {
    const { count, warning } = workerCount(64, 2);
    expect(count).toBe(2);
    expect(warning).toMatch(
      /^WORKERS=64 is more than the 2 cores of this machine; starting 2 workers\. Inference is CPU-bound/,
    );
  });
});

describe(hotReloadLine.name, () => {
  it('should say whether hot reload is on, and how often the repository is scanned', () => {
    expect(hotReloadLine(loadConfig({ MODEL_DIR: '/m', MODEL_POLL_SECONDS: '2.5' }))).toBe(
      'Hot reload on: /m is scanned every 2.5 s (MODEL_POLL_SECONDS)',
    );
    expect(hotReloadLine(loadConfig({ MODEL_DIR: '/m' }))).toMatch(/^Hot reload off: /);
  });
});

describe(runPrimary.name, () => {
  type FakeCluster = EventEmitter & {
    forked: { process: { kill: jest.Mock }; kill: jest.Mock }[];
  };
  const cluster = (require('node:cluster') as { default: FakeCluster }).default;
  let exit: jest.SpyInstance;
  const signalListeners = () => [...process.listeners('SIGTERM'), ...process.listeners('SIGINT')];
  let before: ReturnType<typeof signalListeners>;

  beforeEach(() => {
    cluster.removeAllListeners();
    cluster.forked.length = 0;
    before = signalListeners();
    exit = jest.spyOn(process, 'exit').mockImplementation((() => undefined) as never);
    runPrimary(loadConfig({ WORKERS: '2', LOG_LEVEL: 'silent' }), 2);
  });
  afterEach(() => {
    exit.mockRestore();
    for (const signal of ['SIGTERM', 'SIGINT'] as const) {
      process.listeners(signal).forEach((l) => before.includes(l) || process.off(signal, l));
    }
  });

  const [first, second] = [0, 1];
  const exited = (index: number, code: number | null, signal: string | null = null) =>
    cluster.emit('exit', cluster.forked[index], code, signal);
  const listening = () =>
    cluster.forked.forEach((w) => cluster.emit('listening', w, { port: 8080 }));

  it('should exit 1 when a worker fails during startup, once every worker has exited', () => {
    expect(cluster.forked).toHaveLength(2);
    exited(first, 1);
    // The other is killed rather than left to finish loading.
    expect(cluster.forked[second].kill).toHaveBeenCalledWith('SIGKILL');
    expect(exit).not.toHaveBeenCalled();
    exited(second, null, 'SIGKILL');
    expect(exit).toHaveBeenCalledWith(1);
  });

  it('should pass SIGTERM to every worker and exit 0 once all have drained', () => {
    listening();
    process.emit('SIGTERM', 'SIGTERM');
    cluster.forked.forEach((w) => expect(w.process.kill).toHaveBeenCalledWith('SIGTERM'));
    exited(first, 0);
    expect(exit).not.toHaveBeenCalled();
    exited(second, 0);
    expect(exit).toHaveBeenCalledWith(0);
  });

  it('should exit 1 when a worker did not drain cleanly', () => {
    listening();
    process.emit('SIGTERM', 'SIGTERM');
    exited(first, 1);
    exited(second, 0);
    expect(exit).toHaveBeenCalledWith(1);
  });

  it('should replace a worker that dies after the start', () => {
    listening();
    exited(first, null, 'SIGKILL');
    expect(cluster.forked).toHaveLength(3);
    expect(exit).not.toHaveBeenCalled();
  });
});
