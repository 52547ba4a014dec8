import cluster, { Worker } from 'node:cluster';
import { EventEmitter } from 'node:events';
import { Counter, Gauge, Registry } from 'prom-client';
import { serveClusterMetrics } from './cluster-metrics';

jest.mock('node:cluster', () => {
  const { EventEmitter: Emitter } = jest.requireActual<typeof import('node:events')>('node:events');
  return { __esModule: true, default: new Emitter() };
});
const primary = cluster as unknown as EventEmitter;

interface Sent {
  type: string;
  id: number;
  text?: string;
  error?: string;
}

/** A worker as the primary sees it: what it was sent, and a way to talk back. */
function fakeWorker(pid: number) {
  const sent: Sent[] = [];
  const worker = {
    process: { pid },
    isConnected: () => true,
    send: (message: Sent, _handle: unknown, callback?: (error: Error | null) => void) => {
      sent.push(message);
      callback?.(null);
      return true;
    },
  } as unknown as Worker;
  const say = (message: object) => primary.emit('message', worker, message);
  return { worker, sent, say };
}

/** One worker's registry: requests it served and the versions it holds. */
async function registryJson(requests: number) {
  const registry = new Registry();
  new Counter({ name: 'served_total', help: 'h', registers: [registry] }).inc(requests);
  new Gauge({ name: 'held', help: 'h', aggregator: 'max', registers: [registry] }).set(6);
  return registry.getMetricsAsJSON();
}

const flush = () => new Promise((resolve) => setImmediate(resolve));

describe(serveClusterMetrics.name, () => {
  beforeEach(() => primary.removeAllListeners());

  it("should answer a worker's scrape with every ready worker's metrics added up", async () => {
    serveClusterMetrics(5000);
    const a = fakeWorker(1);
    const b = fakeWorker(2);
    const starting = fakeWorker(3); // no registry yet: never waited for
    a.say({ type: 'metrics:ready' });
    b.say({ type: 'metrics:ready' });
    b.say({ type: 'metrics:scrape', id: 41 });
    expect(starting.sent).toEqual([]);
    const collect = a.sent.find((m) => m.type === 'metrics:collect')!;
    expect(b.sent).toContainEqual(collect);
    a.say({ type: 'metrics:collected', id: collect.id, metrics: await registryJson(3) });
    b.say({ type: 'metrics:collected', id: collect.id, metrics: await registryJson(4) });
    await flush();
    const answer = b.sent.find((m) => m.type === 'metrics:scraped')!;
    expect(answer.id).toBe(41);
    expect(answer.text).toMatch(/^served_total 7$/m);
    expect(answer.text).toMatch(/^held 6$/m);
  });

  it('should fail the scrape, not answer a smaller sum, when a worker exits before it answers', async () => {
    serveClusterMetrics(5000);
    const a = fakeWorker(1);
    const b = fakeWorker(2);
    a.say({ type: 'metrics:ready' });
    b.say({ type: 'metrics:ready' });
    a.say({ type: 'metrics:scrape', id: 1 });
    const collect = a.sent.find((m) => m.type === 'metrics:collect')!;
    a.say({ type: 'metrics:collected', id: collect.id, metrics: await registryJson(3) });
    primary.emit('exit', b.worker);
    await flush();
    expect(a.sent.find((m) => m.type === 'metrics:scraped')).toEqual({
      type: 'metrics:scraped',
      id: 1,
      error: 'worker 2 exited during the scrape',
    });
  });

  it('should fail the scrape when a worker does not answer in time', async () => {
    jest.useFakeTimers();
    const a = fakeWorker(1);
    try {
      serveClusterMetrics(1000);
      a.say({ type: 'metrics:ready' });
      a.say({ type: 'metrics:scrape', id: 5 });
      jest.advanceTimersByTime(999);
      expect(a.sent.map((m) => m.type)).toEqual(['metrics:collect']);
      jest.advanceTimersByTime(1);
    } finally {
      jest.useRealTimers();
    }
    await flush();
    expect(a.sent.find((m) => m.type === 'metrics:scraped')).toEqual({
      type: 'metrics:scraped',
      id: 5,
      error: '1 worker(s) did not send their metrics within 1000 ms',
    });
  });
});
