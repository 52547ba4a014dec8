import { HttpException } from '@nestjs/common';
import express, { NextFunction, raw, Request, Response } from 'express';
import { request as httpRequest, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import request from 'supertest';
import { requestInfoOf } from '../../observability/request-context';
import { LifecycleService } from '../../core/lifecycle/lifecycle.service';
import { requestGuard } from './request-guard.middleware';

describe(requestGuard.name, () => {
  it('should answer 504 when the handler has not answered within the timeout, abort its work, and count the request out', async () => {
    const lifecycle = new LifecycleService();
    const app = express();
    app.use(requestGuard(lifecycle, { maxUploads: 0, bodyReadTimeoutMs: 0, timeoutMs: 100 }));
    let aborted: unknown;
    app.get('/stuck', (_req, res) => {
      // What ModelService.infer hands the batch queue: the request's abort signal.
      const signal = requestInfoOf(res).abort!.signal;
      signal.addEventListener('abort', () => (aborted = signal.reason));
    }); // never answers
    const res = await request(app).get('/stuck').expect(504);
    const message =
      'Request not answered within 100 ms (REQUEST_TIMEOUT_MS), time in the queue included';
    expect(res.body).toEqual({ statusCode: 504, error: 'Gateway Timeout', message });
    expect(aborted).toMatchObject({ code: 'DEADLINE_EXCEEDED', message });
    expect(lifecycle.inflight).toBe(0);
  });

  it('should mark responses Connection: close while draining, so keep-alive clients move away', async () => {
    const lifecycle = new LifecycleService();
    lifecycle.startDraining();
    const app = express();
    app.use(requestGuard(lifecycle, { maxUploads: 0, bodyReadTimeoutMs: 0, timeoutMs: 0 }));
    app.get('/ok', (_req, res) => res.json({ ok: true }));
    const res = await request(app).get('/ok').expect(200);
    expect(res.headers.connection).toBe('close');
  });

  it('should count a body as an upload until its last byte, and shed uploads past maxUploads before reading them', async () => {
    const lifecycle = new LifecycleService();
    const app = express();
    app.use(requestGuard(lifecycle, { maxUploads: 1, bodyReadTimeoutMs: 0, timeoutMs: 0 }));
    app.use(raw({ type: () => true }));
    app.post('/echo', (req, res) => res.json({ bytes: (req.body as Buffer).length }));
    app.use((error: HttpException, _req: Request, res: Response, _next: NextFunction) =>
      res.status(error.getStatus()).json({ message: error.message }),
    );
    const server = await new Promise<Server>((resolve) => {
      const listening = app.listen(0, '127.0.0.1', () => resolve(listening));
    });
    const { port } = server.address() as AddressInfo;
    try {
      // Headers and half the body: the upload holds the one slot.
      const upload = httpRequest({
        host: '127.0.0.1',
        port,
        path: '/echo',
        method: 'POST',
        agent: false,
        headers: { 'content-length': 4 },
      });
      const answered = new Promise<number>((resolve) =>
        upload.on('response', (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        }),
      );
      upload.write('ab');
      await new Promise<void>((resolve) => {
        const poll = setInterval(
          () => lifecycle.uploads === 1 && (clearInterval(poll), resolve()),
          5,
        );
      });

      const shed = await request(server).post('/echo').send('xy').expect(503);
      expect(shed.headers['retry-after']).toBe('1');
      expect(shed.headers.connection).toBe('close');
      expect(shed.body.message).toBe(
        'Server busy: 1 request bodies already arriving (MAX_UPLOADS); retry after 1 s',
      );
      // A request without a body is no upload.
      await request(server).post('/echo').expect(200);

      upload.end('cd');
      expect(await answered).toBe(200);
      expect(lifecycle.uploads).toBe(0);
      await request(server).post('/echo').send('xy').expect(200);
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
