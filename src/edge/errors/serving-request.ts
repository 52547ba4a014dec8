import type { Request } from 'express';

const SERVING = Symbol('servingRequest');
type Claimed = Request & { [SERVING]?: true };

/**
 * Marks a request as the model server's: its errors get the server's bodies (the protocol's
 * `{error}` or `{statusCode, error, message}`), even those raised before routing (body too
 * large, malformed JSON). A host app's own requests stay unmarked and keep Nest's answers.
 */
export function claimRequest(req: Request): void {
  (req as Claimed)[SERVING] = true;
}

export function isClaimed(req: Request): boolean {
  return (req as Claimed)[SERVING] === true;
}
