import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { MetricsService } from './metrics.service';
import { requestInfoOf } from './request-context';

/** Starts each request's clock and records it in the HTTP metrics once it is answered or abandoned. */
export function httpMetrics(metrics: MetricsService): RequestHandler {
  return (req: Request, res: Response, next: NextFunction) => {
    const info = requestInfoOf(res);
    res.once('close', () => metrics.observeRequest(req, res, info));
    next();
  };
}
