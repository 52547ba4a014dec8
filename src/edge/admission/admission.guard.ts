import { CanActivate, ExecutionContext } from '@nestjs/common';
import type { Request, Response } from 'express';
import { isOpsPath, LifecycleService } from '../../core/lifecycle/lifecycle.service';
import { admit, busy } from './request-guard.middleware';

/**
 * Inference admission (MAX_INFLIGHT): a global guard, because guards run after every middleware,
 * so whichever parser read the body (JSON, V2 binary, multipart) has finished and the request
 * holds a slot only once its body is here. Past MAX_INFLIGHT it is shed with 503 + Retry-After.
 * The slot is given back when the answer is sent (see requestGuard).
 */
export class AdmissionGuard implements CanActivate {
  constructor(
    private readonly lifecycle: LifecycleService,
    private readonly maxInflight: number,
  ) {}

  canActivate(context: ExecutionContext): boolean {
    if (context.getType() !== 'http') return true;
    const req = context.switchToHttp().getRequest<Request>();
    const res = context.switchToHttp().getResponse<Response>();
    if (isOpsPath(req.path) || admit(this.lifecycle, res, this.maxInflight)) return true;
    throw busy(res, `Server busy: ${this.maxInflight} requests already in flight (MAX_INFLIGHT)`);
  }
}
