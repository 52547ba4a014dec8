/** Codes of errors that cross the thread boundary; the HTTP filter maps them to statuses. */
export type ErrorCode =
  | 'INVALID_ARGUMENT'
  | 'NOT_FOUND'
  | 'UNAVAILABLE'
  | 'DEADLINE_EXCEEDED'
  | 'CANCELLED'
  | 'RESOURCE_EXHAUSTED'
  | 'INTERNAL';

export interface ThreadError {
  code: ErrorCode;
  message: string;
}

/**
 * The one domain error of the data plane: a code and a message, mapped to an HTTP status at the
 * edge (HttpErrorFilter), the way KServe's errors.py and Triton's HttpCodeFromError do. Errors
 * raised inside an inference thread cross back as plain {code, message} and become this again.
 */
export class InferenceError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
  }

  static from(error: ThreadError): InferenceError {
    return new InferenceError(error.code, error.message);
  }
}

/** The HTTP status of each code. */
export const STATUS_OF_CODE: Record<ErrorCode, number> = {
  INVALID_ARGUMENT: 400,
  NOT_FOUND: 404,
  // A request whose client went away is never answered; 499 is what the logs record for it.
  CANCELLED: 499,
  UNAVAILABLE: 503,
  DEADLINE_EXCEEDED: 504,
  // 507 Insufficient Storage: the request needs more memory than an inference thread has.
  RESOURCE_EXHAUSTED: 507,
  INTERNAL: 500,
};
