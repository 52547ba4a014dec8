import express from 'express';
import request from 'supertest';
import { requestInfoOf } from '../observability/request-context';
import { LifecycleService } from './lifecycle.service';
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
});
