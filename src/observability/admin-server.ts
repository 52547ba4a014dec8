import {
  HttpException,
  HttpStatus,
  Injectable,
  Logger,
  OnApplicationBootstrap,
  OnApplicationShutdown,
} from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import type { Application, NextFunction, Request, RequestHandler, Response } from 'express';
import { createServer, IncomingMessage, Server } from 'node:http';
import { AppConfig } from '../config/app-config';

/**
 * What ADMIN_PORT serves: metrics (Node version, file descriptors, model names) and the API docs.
 * Case-insensitive and with or without a trailing part, as Express routes them.
 */
const ADMIN_PATH = /^\/(metrics|docs(-json|-yaml)?)(\/|$)/i;

export const isAdminPath = (path: string): boolean => ADMIN_PATH.test(path);

/** Requests that arrived on the admin listener (the same Express app serves both ports). */
const onAdminPort = new WeakSet<IncomingMessage>();

/** Where the docs are, for the boot log line. */
export function docsLocation(config: AppConfig): string {
  return config.ADMIN_PORT > 0 ? `http://${config.HOST}:${config.ADMIN_PORT}/docs` : '/docs';
}

/**
 * With ADMIN_PORT set, each port answers only its own paths: /metrics and /docs are a 404 on the
 * public port, like any unknown path, and the admin port serves nothing else.
 */
export function adminGate(): RequestHandler {
  return (req: Request, _res: Response, next: NextFunction) => {
    if (isAdminPath(req.path) === onAdminPort.has(req)) return next();
    // Not a NotFoundException, which the error filter turns into 405 on a path that has routes.
    next(new HttpException(`Cannot ${req.method} ${req.path}`, HttpStatus.NOT_FOUND));
  };
}

/**
 * The ADMIN_PORT listener: a second HTTP server on the app's own Express instance, so admin
 * requests go through the same middleware (security headers, request log, HTTP metrics) and read
 * the one metrics registry. It opens once the app is initialised (models loaded) and closes with
 * the app, which graceful shutdown does last, so metrics can be scraped while requests drain.
 */
@Injectable()
export class AdminServer implements OnApplicationBootstrap, OnApplicationShutdown {
  private server?: Server;

  constructor(
    private readonly config: AppConfig,
    private readonly adapterHost: HttpAdapterHost,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    const { ADMIN_PORT: port, HOST: host } = this.config;
    if (port === 0) return;
    const app = this.adapterHost.httpAdapter.getInstance<Application>();
    const server = createServer((req, res) => {
      onAdminPort.add(req);
      app(req, res);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', (error) => reject(new Error(`ADMIN_PORT ${port}: ${error.message}`)));
      server.listen(port, host, resolve);
    });
    this.server = server;
    new Logger('Bootstrap').log(`Admin endpoints (/metrics, /docs) on http://${host}:${port}`);
  }

  async onApplicationShutdown(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    const closed = new Promise((resolve) => server.close(resolve));
    // A scraper's keep-alive connection would otherwise hold close() open until it times out.
    server.closeAllConnections();
    await closed;
  }
}
