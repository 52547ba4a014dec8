import { ExecutionContext, ServiceUnavailableException } from '@nestjs/common';
import express, { Request, Response } from 'express';
import request from 'supertest';
import { AdmissionGuard } from './admission.guard';
import { LifecycleService } from '../../core/lifecycle/lifecycle.service';
import { requestGuard } from './request-guard.middleware';

/** What Nest hands a guard for an HTTP request. */
function httpContext(req: Request, res: Response): ExecutionContext {
  return {
    getType: () => 'http',
    switchToHttp: () => ({ getRequest: () => req, getResponse: () => res }),
  } as unknown as ExecutionContext;
}

describe(AdmissionGuard.name, () => {
  /** An app whose routes hold their answer until the test releases them. */
  function holdingApp(maxInflight: number) {
    const lifecycle = new LifecycleService();
    const guard = new AdmissionGuard(lifecycle, maxInflight);
    const held: (() => void)[] = [];
    const app = express();
    app.use(requestGuard(lifecycle, { maxUploads: 0, bodyReadTimeoutMs: 0, timeoutMs: 0 }));
    app.all(['/hold', '/health/live'], (req, res) => {
      try {
        guard.canActivate(httpContext(req, res));
      } catch (error) {
        const status = (error as ServiceUnavailableException).getStatus();
        return res.status(status).json({ message: (error as Error).message });
      }
      held.push(() => res.json({ ok: true }));
    });
    const server = app.listen(0, '127.0.0.1');
    return { lifecycle, held, server };
  }

  it('should admit MAX_INFLIGHT requests, shed the next with 503 + Retry-After, and admit again once one is answered', async () => {
    const { lifecycle, held, server } = holdingApp(1);
    try {
      const first = request(server)
        .post('/hold')
        .send({ a: 1 })
        .then((res) => res);
      await new Promise<void>((resolve) => {
        const poll = setInterval(() => held.length === 1 && (clearInterval(poll), resolve()), 5);
      });
      expect(lifecycle.admitted).toBe(1);

      const shed = await request(server).post('/hold').send({ a: 2 }).expect(503);
      expect(shed.headers['retry-after']).toBe('1');
      expect(shed.body.message).toBe(
        'Server busy: 1 requests already in flight (MAX_INFLIGHT); retry after 1 s',
      );
      // Probes are never counted nor shed.
      const probe = request(server)
        .get('/health/live')
        .then((res) => res);
      await new Promise<void>((resolve) => {
        const poll = setInterval(() => held.length === 2 && (clearInterval(poll), resolve()), 5);
      });
      expect(lifecycle.admitted).toBe(1);

      held.forEach((answer) => answer());
      expect((await first).status).toBe(200);
      expect((await probe).status).toBe(200);
      expect(lifecycle.admitted).toBe(0);
      const again = request(server)
        .post('/hold')
        .send({ a: 3 })
        .then((res) => res);
      await new Promise<void>((resolve) => {
        const poll = setInterval(() => held.length === 3 && (clearInterval(poll), resolve()), 5);
      });
      held[2]();
      expect((await again).status).toBe(200);
      expect(lifecycle.inflight).toBe(0);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('should let a request through uncounted when the request guard never saw it', () => {
    const lifecycle = new LifecycleService();
    const res = { setHeader: jest.fn() } as unknown as Response;
    const req = { path: '/predict' } as Request;
    expect(new AdmissionGuard(lifecycle, 1).canActivate(httpContext(req, res))).toBe(true);
    expect(lifecycle.admitted).toBe(0);
  });
});
