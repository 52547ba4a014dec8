import type { Logger } from 'pino';
import type { RequestInfo } from './request-context';

/**
 * The level of a gRPC call's log line, as logLevelOf does for HTTP: the server saying "not now"
 * (UNAVAILABLE: shed or draining; DEADLINE_EXCEEDED; RESOURCE_EXHAUSTED: MAX_INFLIGHT or out of
 * memory) is a warning, a fault (INTERNAL, UNKNOWN) an error, the rest (the client's errors) info.
 */
export function grpcLogLevelOf(code: string): 'error' | 'warn' | 'info' {
  if (code === 'INTERNAL' || code === 'UNKNOWN') return 'error';
  if (code === 'UNAVAILABLE' || code === 'DEADLINE_EXCEEDED' || code === 'RESOURCE_EXHAUSTED') {
    return 'warn';
  }
  return 'info';
}

/**
 * The one line logged per gRPC call (or stream message), with the fields of the HTTP request
 * line: messages and metadata are never logged, tensors stay out of logs.
 */
export function logGrpcCall(
  logger: Logger,
  call: { reqId: string; method: string; code: string; info: RequestInfo },
): void {
  const durationMs = Number(process.hrtime.bigint() - call.info.startedAt) / 1e6;
  logger[grpcLogLevelOf(call.code)](
    {
      reqId: call.reqId,
      protocol: 'grpc',
      method: call.method,
      model: call.info.model,
      version: call.info.version,
      code: call.code,
      durationMs: Math.round(durationMs * 1000) / 1000,
    },
    grpcLogLevelOf(call.code) === 'error' ? 'request failed' : 'request completed',
  );
}
