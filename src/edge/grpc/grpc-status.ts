import { status as GrpcStatus } from '@grpc/grpc-js';
import { ServingError, type ServingCode, type ServingErrorData } from '../../errors/serving-error';

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
  UNAUTHENTICATED: GrpcStatus.UNAUTHENTICATED,
  PERMISSION_DENIED: GrpcStatus.PERMISSION_DENIED,
};

export function grpcStatusOf(error: Pick<ServingErrorData, 'code'>): GrpcStatus {
  return GRPC_STATUS_OF_CODE[error.code];
}

/** A message that says nothing of the server's insides, for errors that are not the client's. */
export const INTERNAL_MESSAGE = 'Internal server error';

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
  return { code: 'INTERNAL', message: INTERNAL_MESSAGE, expected: false };
}
