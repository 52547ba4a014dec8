import { Logger } from '@nestjs/common';
import type { NestExpressApplication } from '@nestjs/platform-express';
import type { Server } from 'node:http';
import { constants } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { AppConfig } from '../../config/app-config';
import { ModelService } from '../../core/model.service';
import { MetricsService } from '../../observability/metrics.service';
import { GrpcListener } from '../grpc/grpc-listener';
import { ConnectionDrain } from './connection-drain';
import { LifecycleService } from '../../core/lifecycle/lifecycle.service';

const SIGNALS = ['SIGTERM', 'SIGINT'] as const;

/**
 * Drains the server: readiness off at once; keep accepting for SHUTDOWN_DELAY_MS (so a load
 * balancer probing readiness stops sending first), except on SIGINT, which is someone at a
 * terminal pressing Ctrl-C with no load balancer to wait for; take the connections already
 * waiting, stop accepting; answer every request already accepted (with Connection: close) and
 * close the other connections, for at most SHUTDOWN_TIMEOUT_MS, then cut what is left; then
 * close the app, which disposes the models. The gRPC listener turns its health NOT_SERVING at
 * once and drains beside HTTP (GrpcListener.shutdown). Returns whether every call finished in time.
 */
export async function drain(
  app: NestExpressApplication,
  connections: ConnectionDrain,
  signal: NodeJS.Signals = 'SIGTERM',
): Promise<boolean> {
  const config = app.get(AppConfig);
  const metrics = app.get(MetricsService);
  const logger = new Logger('Shutdown');
  app.get(LifecycleService).startDraining();
  app.get(ModelService).beginShutdown();
  const grpc = app.get(GrpcListener, { strict: false });
  grpc.beginDrain();
  connections.begin((outcome) => metrics.observeDrainedRequest(outcome));
  logger.log(
    `Draining: readiness is 503, ${connections.inflight} request(s) in flight on ${connections.open} connection(s)`,
  );
  const delay = signal === 'SIGINT' ? 0 : config.SHUTDOWN_DELAY_MS;
  if (delay > 0) await sleep(delay);

  const started = performance.now();
  const left = () => Math.max(0, config.SHUTDOWN_TIMEOUT_MS - (performance.now() - started));
  await connections.stopAccepting(left());
  logger.log(
    `Stopped accepting after ${delay} ms (SHUTDOWN_DELAY_MS${signal === 'SIGINT' ? ', skipped on SIGINT' : ''}): ${connections.inflight} request(s) in flight on ${connections.open} connection(s)`,
  );
  // gRPC stops accepting at the same moment and drains beside HTTP, within the same budget.
  const grpcSettled = grpc.shutdown(left());
  const httpDrained = await connections.settle(left());
  const grpcDrained = await grpcSettled;
  if (!httpDrained) {
    logger.warn(
      `${connections.inflight} request(s) still in flight after SHUTDOWN_TIMEOUT_MS=${config.SHUTDOWN_TIMEOUT_MS}; closing their connections`,
    );
  }
  if (!grpcDrained) {
    logger.warn(
      `gRPC calls still in flight after SHUTDOWN_TIMEOUT_MS=${config.SHUTDOWN_TIMEOUT_MS}; cut`,
    );
  }
  connections.closeAll();
  const c = connections.counts;
  logger.log(
    `Drain summary: ${c.answered} request(s) answered, ${c.refused} refused (503), ${c.client_closed} closed by their client, ${c.cut} cut at SHUTDOWN_TIMEOUT_MS; ${c.idleClosed} idle and ${c.unusedClosed} unused connection(s) closed`,
  );
  await app.close();
  logger.log('Shutdown complete');
  return httpDrained && grpcDrained;
}

/**
 * Replaces Nest's enableShutdownHooks(), whose order (dispose models, then close the server, then
 * re-raise the signal) would fail in-flight requests and exit non-zero. The first SIGTERM/SIGINT
 * drains and exits 0; a second one exits at once with 128 + the signal number. Call it right
 * after listen(): connections are tracked from then on.
 */
export function installGracefulShutdown(app: NestExpressApplication): void {
  const connections = new ConnectionDrain(app.getHttpServer() as Server);
  let draining = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (draining) {
      new Logger('Shutdown').warn(`${signal} again: exiting now`);
      process.exit(128 + (constants.signals[signal] ?? 0));
    }
    draining = true;
    new Logger('Shutdown').log(`${signal} received`);
    drain(app, connections, signal).then(
      () => process.exit(0),
      (error: Error) => {
        new Logger('Shutdown').error(`Shutdown failed: ${error.message}`, error.stack);
        process.exit(1);
      },
    );
  };
  SIGNALS.forEach((signal) => process.on(signal, onSignal));
}
