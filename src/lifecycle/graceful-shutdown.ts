import { Logger } from '@nestjs/common';
import type { NestExpressApplication } from '@nestjs/platform-express';
import type { Server } from 'node:http';
import { constants } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { AppConfig } from '../config/app-config';
import { ModelService } from '../model/model.service';
import { LifecycleService } from './lifecycle.service';

const SIGNALS = ['SIGTERM', 'SIGINT'] as const;

/**
 * Drains the server: readiness off at once, keep accepting for SHUTDOWN_DELAY_MS (so a load
 * balancer probing readiness stops sending first), stop accepting, let in-flight requests finish
 * (at most SHUTDOWN_TIMEOUT_MS, then their connections are cut), then close the app, which
 * disposes the models. Returns whether every request finished in time.
 */
export async function drain(app: NestExpressApplication): Promise<boolean> {
  const config = app.get(AppConfig);
  const lifecycle = app.get(LifecycleService);
  const logger = new Logger('Shutdown');
  lifecycle.startDraining();
  app.get(ModelService).beginShutdown();
  logger.log(`Draining: readiness is 503, ${lifecycle.inflight} request(s) in flight`);
  if (config.SHUTDOWN_DELAY_MS > 0) await sleep(config.SHUTDOWN_DELAY_MS);

  const server = app.getHttpServer() as Server;
  server.close();
  // Idle keep-alive sockets would otherwise hold server.close() open until they time out.
  server.closeIdleConnections();
  const drained = await lifecycle.waitForIdle(config.SHUTDOWN_TIMEOUT_MS);
  if (!drained) {
    logger.warn(
      `${lifecycle.inflight} request(s) still in flight after SHUTDOWN_TIMEOUT_MS=${config.SHUTDOWN_TIMEOUT_MS}; closing their connections`,
    );
  }
  server.closeAllConnections();
  await app.close();
  logger.log('Shutdown complete');
  return drained;
}

/**
 * Replaces Nest's enableShutdownHooks(), whose order (dispose models, then close the server, then
 * re-raise the signal) would fail in-flight requests and exit non-zero. The first SIGTERM/SIGINT
 * drains and exits 0; a second one exits at once with 128 + the signal number.
 */
export function installGracefulShutdown(app: NestExpressApplication): void {
  let draining = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (draining) {
      new Logger('Shutdown').warn(`${signal} again: exiting now`);
      process.exit(128 + (constants.signals[signal] ?? 0));
    }
    draining = true;
    new Logger('Shutdown').log(`${signal} received`);
    drain(app).then(
      () => process.exit(0),
      (error: Error) => {
        new Logger('Shutdown').error(`Shutdown failed: ${error.message}`, error.stack);
        process.exit(1);
      },
    );
  };
  SIGNALS.forEach((signal) => process.on(signal, onSignal));
}
