/**
 * The codes of the serving core, named after gRPC's canonical status codes (google.rpc.Code),
 * which Triton, KServe and TF Serving all use: each protocol maps them once at its edge.
 */
export const SERVING_CODES = [
  'INVALID_ARGUMENT',
  'NOT_FOUND',
  'FAILED_PRECONDITION',
  'RESOURCE_EXHAUSTED',
  'UNAVAILABLE',
  'DEADLINE_EXCEEDED',
  'CANCELLED',
  'UNIMPLEMENTED',
  'INTERNAL',
  'UNAUTHENTICATED',
  'PERMISSION_DENIED',
] as const;
export type ServingCode = (typeof SERVING_CODES)[number];

/**
 * A finer reason where one code covers answers a protocol tells apart: HTTP says 413 for a
 * request over a limit and 507 for one that needs more memory than a thread has, while gRPC
 * says RESOURCE_EXHAUSTED for both.
 */
export type ServingReason = 'TOO_LARGE' | 'OUT_OF_MEMORY';

/** A ServingError as plain data: what crosses a thread boundary (structured clone) intact. */
export interface ServingErrorData {
  code: ServingCode;
  message: string;
  reason?: ServingReason;
}

/**
 * The one error of the serving core. Everything below the edge (tensor, engines, image, core)
 * throws this and nothing protocol-specific; the edge maps `code` (and `reason`) to a status
 * once, the way Triton's HttpCodeFromError and KServe's errors.py do. The message is written
 * for the client: it names what was wrong and what was expected.
 */
export class ServingError extends Error {
  constructor(
    readonly code: ServingCode,
    message: string,
    readonly reason?: ServingReason,
  ) {
    super(message);
    this.name = 'ServingError';
  }

  static invalid(message: string): ServingError {
    return new ServingError('INVALID_ARGUMENT', message);
  }

  static notFound(message: string): ServingError {
    return new ServingError('NOT_FOUND', message);
  }

  static unavailable(message: string): ServingError {
    return new ServingError('UNAVAILABLE', message);
  }

  static tooLarge(message: string): ServingError {
    return new ServingError('RESOURCE_EXHAUSTED', message, 'TOO_LARGE');
  }

  static internal(message: string): ServingError {
    return new ServingError('INTERNAL', message);
  }

  static fromData(data: ServingErrorData): ServingError {
    return new ServingError(data.code, data.message, data.reason);
  }

  toData(): ServingErrorData {
    return this.reason
      ? { code: this.code, message: this.message, reason: this.reason }
      : { code: this.code, message: this.message };
  }
}
