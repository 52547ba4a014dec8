import { status as GrpcStatus } from '@grpc/grpc-js';
import { ServingError, type ServingCode, type ServingErrorData } from '../../errors/serving-error';
import { toHttpError } from '../errors/http-error.filter';

/**
 * The gRPC status of each serving code: the one table every gRPC service answers with (the
 * serving codes are named after gRPC's, so this is the identity but for the numbers).
 */
export const GRPC_STATUS_OF_CODE: Record<ServingCode, GrpcStatus> = {
  INVALID_ARGUMENT: GrpcStatus.INVALID_ARGUMENT,
  NOT_FOUND: GrpcStatus.NOT_FOUND,
  FAILED_PRECONDITION: GrpcStatus.FAILED_PRECONDITION,
  RESOURCE_EXHAUSTED: GrpcStatus.RESOURCE_EXHAUSTED,
  UNAVAILABLE: GrpcStatus.UNAVAILABLE,
  DEADLINE_EXCEEDED: GrpcStatus.DEADLINE_EXCEEDED,
  CANCELLED: GrpcStatus.CANCELLED,
  UNIMPLEMENTED: GrpcStatus.UNIMPLEMENTED,
  INTERNAL: GrpcStatus.INTERNAL,
};

export function grpcStatusOf(error: Pick<ServingErrorData, 'code'>): GrpcStatus {
  return GRPC_STATUS_OF_CODE[error.code];
}

/** A message that says nothing of the server's insides, for errors that are not the client's. */
export const INTERNAL_MESSAGE = 'Internal server error';

/**
 * TEMPORARY, delete at the merge of the `errors`/`facade` branches, once the core throws only
 * ServingError: the serving code of what the core throws today (the Nest HttpExceptions of
 * model.service.ts), read through the HTTP edge's own mapping (status + client message) so both
 * protocols say the same words.
 */
const CODE_OF_HTTP_STATUS: Record<number, Pick<ServingErrorData, 'code' | 'reason'>> = {
  400: { code: 'INVALID_ARGUMENT' },
  404: { code: 'NOT_FOUND' },
  408: { code: 'DEADLINE_EXCEEDED' },
  413: { code: 'RESOURCE_EXHAUSTED', reason: 'TOO_LARGE' },
  415: { code: 'INVALID_ARGUMENT' },
  499: { code: 'CANCELLED' },
  501: { code: 'UNIMPLEMENTED' },
  503: { code: 'UNAVAILABLE' },
  504: { code: 'DEADLINE_EXCEEDED' },
  507: { code: 'RESOURCE_EXHAUSTED', reason: 'OUT_OF_MEMORY' },
};
function legacyServingError(error: unknown): ServingErrorData | undefined {
  const http = toHttpError(error);
  if (!http) return undefined;
  const known = CODE_OF_HTTP_STATUS[http.status];
  const code = known ?? { code: http.status >= 500 ? 'INTERNAL' : 'INVALID_ARGUMENT' };
  return { ...code, message: http.message };
}

/**
 * What a client is told about anything thrown while serving its call: a ServingError as it is,
 * anything unexpected as INTERNAL with a message that leaks nothing (`expected` false: log it).
 */
export function toServingError(error: unknown): ServingErrorData & { expected: boolean } {
  if (error instanceof ServingError) {
    return error.code === 'INTERNAL'
      ? { code: 'INTERNAL', message: INTERNAL_MESSAGE, expected: false }
      : { ...error.toData(), expected: true };
  }
  const legacy = legacyServingError(error);
  if (legacy) return { ...legacy, expected: true };
  return { code: 'INTERNAL', message: INTERNAL_MESSAGE, expected: false };
}
