import cluster, { Worker } from 'node:cluster';
import { constants } from 'node:os';
import pino from 'pino';
import { AppConfig, modelControlMode } from './config/app-config';
import { usableCores } from './config/cpu-quota';
import { docsLocation } from './observability/admin-server';
import { logDestination, logOutputFor } from './observability/boot-logger';
import { serveClusterMetrics } from './observability/cluster-metrics';

const SIGNALS = ['SIGTERM', 'SIGINT'] as const;

/** Said once at boot, so nobody has to guess whether new version folders will be picked up. */
export function hotReloadLine(config: AppConfig): string {
  if (modelControlMode(config) === 'explicit') {
    return `Hot reload off: MODEL_CONTROL_MODE=explicit, models are loaded and unloaded by POST /v2/repository/models/{name}/load and /unload`;
  }
  return config.MODEL_POLL_SECONDS > 0
    ? `Hot reload on: ${config.MODEL_DIR} is scanned every ${config.MODEL_POLL_SECONDS} s (MODEL_POLL_SECONDS)`
    : `Hot reload off: new model versions need a restart (set MODEL_POLL_SECONDS to scan ${config.MODEL_DIR})`;
}

/**
 * Workers beyond the cores only cost: inference is CPU-bound, every worker holds its own copy of
 * every model, and all of them load their models at once at startup. Measured on 2 cores:
 * WORKERS=64 took 85 s to listen (64 processes of ~1.3 s CPU each contending) and held 4.3 GB;
 * WORKERS=2 listens in about 5 s. So WORKERS is capped at the cores, with a warning saying so.
 */
export function workerCount(requested: number, cores: number): { count: number; warning?: string } {
  if (requested <= cores) return { count: requested };
  return {
    count: cores,
    warning: `WORKERS=${requested} is more than the ${cores} cores of this machine; starting ${cores} workers. Inference is CPU-bound: extra workers add a copy of every model each and slow startup, not throughput`,
  };
}

/**
 * Runs `count` copies of the server on one port with Node's cluster module, so inference (which
 * runs on the JavaScript thread) uses more than one core. Each worker is a whole server that
 * loads every model once at startup: N workers hold N copies of every model.
 *
 * - The port opens (one "Listening on" line) only when every worker has loaded its models.
 * - A worker that fails during startup fails the whole process (exit 1), as a single server would.
 * - A worker that dies later is replaced.
 * - SIGTERM/SIGINT is passed on to every worker, which drains; a second signal kills them at once.
 * - GET /metrics, on whichever worker, answers for all of them (observability/cluster-metrics.ts).
 */
export function runPrimary(config: AppConfig, cores = usableCores().cores): void {
  // Lines like the workers' own logs, on the same kind of stream.
  const logger = pino(
    { level: config.LOG_LEVEL, base: { pid: process.pid, context: 'Cluster' } },
    logDestination(logOutputFor(config.LOG_FORMAT)),
  );
  const { count, warning } = workerCount(config.WORKERS, cores);
  if (warning) logger.warn(warning);
  let started = false;
  let stopping = false;
  let failed = false; // exit code 1: a worker failed to start or to drain
  let listening = 0;

  // Workers not yet exited. Not cluster.workers: Node keeps a worker there until its IPC channel
  // has closed too, and on a loaded machine the 'exit' can come first; with that count the last
  // exit never ended the primary, whose emptied event loop then exited 0 after a failed start.
  const alive = new Set<Worker>();
  const fork = (): Worker => {
    const worker = cluster.fork();
    alive.add(worker);
    return worker;
  };

  cluster.on('listening', (_worker, address) => {
    // Each worker also opens the ADMIN_PORT listener: only the public port says it is up.
    if (config.ADMIN_PORT > 0 && address.port === config.ADMIN_PORT) return;
    listening++;
    if (!started && listening === count) {
      started = true;
      logger.info(
        `Listening on http://${config.HOST}:${address.port} (${count} workers, docs at ${docsLocation(config)})`,
      );
      logger.info(hotReloadLine(config));
    }
  });

  cluster.on('exit', (worker, code, signal) => {
    alive.delete(worker);
    if (started && !stopping) {
      logger.error(
        `Worker ${worker.process.pid} died (exit ${code ?? signal}); starting a new one`,
      );
      fork();
      return;
    }
    if (!started && !stopping) {
      logger.error(`Worker ${worker.process.pid} failed during startup (exit ${code}); stopping`);
      stopping = true;
      failed = true;
      alive.forEach((other) => other.kill('SIGKILL'));
    } else if (code !== null && code !== 0) {
      failed = true; // a worker that did not drain cleanly (one killed by a signal was interrupted)
    }
    if (alive.size === 0) process.exit(failed ? 1 : 0);
  });

  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) {
      alive.forEach((worker) => worker.process.kill('SIGKILL'));
      process.exit(128 + (constants.signals[signal] ?? 0));
    }
    stopping = true;
    logger.info(`${signal} received: draining ${count} workers`);
    alive.forEach((worker) => worker.process.kill(signal));
  };
  SIGNALS.forEach((signal) => process.on(signal, onSignal));
  serveClusterMetrics();

  for (let i = 0; i < count; i++) fork();
}
