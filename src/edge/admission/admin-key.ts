import { CanActivate, ExecutionContext, Injectable } from '@nestjs/common';
import type { Request } from 'express';
import { createHash, timingSafeEqual } from 'node:crypto';
import { AppConfig } from '../../config/app-config';
import { ServingError } from '../../errors/serving-error';

/** The header an HTTP repository call carries ADMIN_API_KEY in, as Triton's restricted API names it. */
export const ADMIN_KEY_HEADER = 'admin-key';

/** Triton's gRPC form of the same header (its restricted protocols prefix the key's name). */
export const GRPC_ADMIN_KEY_HEADER = `triton-grpc-protocol-${ADMIN_KEY_HEADER}`;

const digest = (text: string) => createHash('sha256').update(text).digest();

/**
 * Whether `given` is the key, compared in constant time: both are hashed first, so neither the
 * key's characters nor its length show in how long a wrong guess takes to refuse.
 */
export function isAdminKey(expected: string, given: string): boolean {
  return timingSafeEqual(digest(expected), digest(given));
}

/**
 * Refuses a restricted call (the repository API) unless it carries ADMIN_API_KEY: without the
 * header UNAUTHENTICATED (HTTP 401), with another key PERMISSION_DENIED (403). Triton's words
 * first ("This API is restricted, expecting header ..."), which its clients match on; gRPC says
 * "protocol" as Triton's gRPC server does. Nothing is restricted when no key is set.
 */
export function checkAdminKey(
  expected: string | undefined,
  given: string | undefined,
  protocol: 'http' | 'grpc',
): void {
  if (expected === undefined) return;
  const header = protocol === 'http' ? ADMIN_KEY_HEADER : GRPC_ADMIN_KEY_HEADER;
  const restricted = `This ${protocol === 'http' ? 'API' : 'protocol'} is restricted, expecting header '${header}'`;
  if (given === undefined || given === '') {
    throw new ServingError(
      'UNAUTHENTICATED',
      `${restricted}: repository calls need the server's ADMIN_API_KEY`,
    );
  }
  if (!isAdminKey(expected, given)) {
    throw new ServingError(
      'PERMISSION_DENIED',
      `${restricted}: the key sent is not the server's ADMIN_API_KEY`,
    );
  }
}

/** The admin key check of HTTP repository calls, as a guard: it runs before the body is validated. */
@Injectable()
export class AdminKeyGuard implements CanActivate {
  constructor(private readonly config: AppConfig) {}

  canActivate(context: ExecutionContext): boolean {
    const key = context.switchToHttp().getRequest<Request>().header(ADMIN_KEY_HEADER);
    checkAdminKey(this.config.ADMIN_API_KEY, key, 'http');
    return true;
  }
}
