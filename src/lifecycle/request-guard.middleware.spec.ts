import express from 'express';
import request from 'supertest';
import { LifecycleService } from './lifecycle.service';
import { requestGuard } from './request-guard.middleware';

describe(requestGuard.name, () => {
  it('should answer 503 when the handler has not answered within the timeout, and count the request out', async () => {
    const lifecycle = new LifecycleService();
    const app = express();
    app.use(requestGuard(lifecycle, { maxInflight: 0, timeoutMs: 100 }));
    app.get('/stuck', () => undefined); // never answers
    const res = await request(app).get('/stuck').expect(503);
    expect(res.body).toEqual({
      statusCode: 503,
      error: 'Service Unavailable',
      message: 'Request not answered within 100 ms (REQUEST_TIMEOUT_MS)',
    });
    expect(lifecycle.inflight).toBe(0);
  });

  it('should mark responses Connection: close while draining, so keep-alive clients move away', async () => {
    const lifecycle = new LifecycleService();
    lifecycle.startDraining();
    const app = express();
    app.use(requestGuard(lifecycle, { maxInflight: 0, timeoutMs: 0 }));
    app.get('/ok', (_req, res) => res.json({ ok: true }));
    const res = await request(app).get('/ok').expect(200);
    expect(res.headers.connection).toBe('close');
  });
});
