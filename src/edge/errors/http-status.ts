import type { ServingCode, ServingErrorData, ServingReason } from '../../errors/serving-error';

/** The HTTP status of each serving code: the one table every HTTP protocol answers with. */
export const HTTP_STATUS_OF_CODE: Record<ServingCode, number> = {
  INVALID_ARGUMENT: 400,
  NOT_FOUND: 404,
  // A request that is valid but cannot run in the server's present state (gRPC's own mapping).
  FAILED_PRECONDITION: 400,
  // A request over a size limit; OUT_OF_MEMORY below refines it.
  RESOURCE_EXHAUSTED: 413,
  UNAVAILABLE: 503,
  DEADLINE_EXCEEDED: 504,
  // A request whose client went away is never answered; 499 is what the logs record for it.
  CANCELLED: 499,
  UNIMPLEMENTED: 501,
  INTERNAL: 500,
  // A restricted call without its key, and one with a key that is not it.
  UNAUTHENTICATED: 401,
  PERMISSION_DENIED: 403,
};

/** Reasons whose HTTP status differs from their code's. */
const HTTP_STATUS_OF_REASON: Partial<Record<ServingReason, number>> = {
  // 507 Insufficient Storage: the request needs more memory than an inference thread has.
  OUT_OF_MEMORY: 507,
};

export function httpStatusOf(error: Pick<ServingErrorData, 'code' | 'reason'>): number {
  return (error.reason && HTTP_STATUS_OF_REASON[error.reason]) || HTTP_STATUS_OF_CODE[error.code];
}
