import cluster, { Worker } from 'node:cluster';
import { AggregatorRegistry, MetricObjectWithValues, MetricValue } from 'prom-client';

/**
 * /metrics for a cluster (WORKERS > 1): whichever worker takes a scrape asks the primary, which
 * gathers every ready worker's registry over IPC and adds them up with prom-client's
 * AggregatorRegistry (counters and histograms summed, gauges by each metric's `aggregator`). So
 * every scrape answers for the whole server and counters never go down from one to the next,
 * whichever worker the cluster hands the connection to.
 *
 * prom-client's own clusterMetrics() asks every worker for its global registry; here each app has
 * a registry of its own, the model gauges must be read when the worker is asked, and a worker
 * still starting (no registry yet) must not make the scrape wait for it: hence this small protocol.
 */

type RegistryJson = MetricObjectWithValues<MetricValue<string>>[];

/** worker -> primary, once its registry can answer */
const READY = 'metrics:ready';
/** worker -> primary: a client asked this worker for /metrics */
const SCRAPE = 'metrics:scrape';
/** primary -> worker: the whole cluster's text, or why it could not be gathered */
const SCRAPED = 'metrics:scraped';
/** primary -> worker: send your registry */
const COLLECT = 'metrics:collect';
/** worker -> primary: a worker's registry as JSON */
const COLLECTED = 'metrics:collected';

interface Message {
  type?: string;
  id?: number;
  text?: string;
  error?: string;
  metrics?: RegistryJson;
}

/** How long the primary waits for every worker's registry (Prometheus' default scrape timeout is 10 s). */
export const COLLECT_TIMEOUT_MS = 8000;

interface Gathering {
  waiting: Set<Worker>;
  answers: RegistryJson[];
  finish: (error?: Error) => void;
}

/** In the primary: answers the workers' scrape requests with every ready worker's metrics added up. */
export function serveClusterMetrics(timeoutMs = COLLECT_TIMEOUT_MS): void {
  const ready = new Set<Worker>();
  const gatherings = new Map<number, Gathering>();
  let nextId = 0;

  const gather = () =>
    new Promise<string>((resolve, reject) => {
      const id = nextId++;
      const gathering: Gathering = {
        waiting: new Set(ready),
        answers: [],
        finish: (error) => {
          clearTimeout(timer);
          gatherings.delete(id);
          if (error) reject(error);
          else AggregatorRegistry.aggregate(gathering.answers).metrics().then(resolve, reject);
        },
      };
      const timer = setTimeout(
        () =>
          gathering.finish(
            new Error(
              `${gathering.waiting.size} worker(s) did not send their metrics within ${timeoutMs} ms`,
            ),
          ),
        timeoutMs,
      );
      gatherings.set(id, gathering);
      if (gathering.waiting.size === 0) return gathering.finish();
      for (const worker of gathering.waiting) {
        // A callback, or a worker whose channel just closed would throw in the primary.
        worker.send({ type: COLLECT, id }, undefined, (error) => {
          if (error) lost(worker);
        });
      }
    });

  /** A worker gone mid-scrape: the sum without it would drop, so that scrape fails instead. */
  const lost = (worker: Worker) => {
    ready.delete(worker);
    for (const gathering of gatherings.values()) {
      if (gathering.waiting.has(worker))
        gathering.finish(new Error(`worker ${worker.process.pid} exited during the scrape`));
    }
  };

  const reply = (worker: Worker, message: Message) => {
    if (worker.isConnected()) worker.send(message, undefined, () => undefined);
  };

  cluster.on('exit', lost);
  cluster.on('message', (worker: Worker, message: Message) => {
    if (message?.type === READY) ready.add(worker);
    else if (message?.type === SCRAPE) {
      gather().then(
        (text) => reply(worker, { type: SCRAPED, id: message.id, text }),
        (error: Error) => reply(worker, { type: SCRAPED, id: message.id, error: error.message }),
      );
    } else if (message?.type === COLLECTED) {
      const gathering = gatherings.get(message.id ?? -1);
      if (!gathering?.waiting.delete(worker)) return;
      if (message.error) return gathering.finish(new Error(message.error));
      gathering.answers.push(message.metrics ?? []);
      if (gathering.waiting.size === 0) gathering.finish();
    }
  });
}

/** In a worker: sends this worker's registry whenever the primary gathers the cluster's. */
export function answerClusterCollects(collect: () => Promise<RegistryJson>): void {
  process.on('message', (message: Message) => {
    if (message?.type !== COLLECT) return;
    collect().then(
      (metrics) => process.send?.({ type: COLLECTED, id: message.id, metrics }),
      (error: Error) => process.send?.({ type: COLLECTED, id: message.id, error: error.message }),
    );
  });
  process.send?.({ type: READY });
}

let nextScrape = 0;
/** Scrapes of this worker waiting for the primary, by id: one IPC listener for all of them. */
const scrapes = new Map<number, (message: Message) => void>();
const onScraped = (message: Message) => {
  if (message?.type === SCRAPED) scrapes.get(message.id ?? -1)?.(message);
};

/** In a worker: the whole cluster's metrics text, from the primary. */
export function scrapeCluster(timeoutMs = COLLECT_TIMEOUT_MS + 2000): Promise<string> {
  const id = nextScrape++;
  if (scrapes.size === 0) process.on('message', onScraped);
  return new Promise<string>((resolve, reject) => {
    const done = (error?: Error, text?: string) => {
      clearTimeout(timer);
      scrapes.delete(id);
      if (scrapes.size === 0) process.off('message', onScraped);
      if (error) reject(error);
      else resolve(text ?? '');
    };
    const timer = setTimeout(
      () => done(new Error(`the cluster primary did not answer within ${timeoutMs} ms`)),
      timeoutMs,
    );
    scrapes.set(id, (message) =>
      message.error !== undefined ? done(new Error(message.error)) : done(undefined, message.text),
    );
    process.send!({ type: SCRAPE, id }, undefined, {}, (error: Error | null) => {
      if (error) done(error);
    });
  });
}
