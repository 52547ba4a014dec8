import type { Request, Response } from 'express';
import { requestInfoOf } from './request-context';

/** Label of requests that match no route (404s); never the raw URL, which would explode cardinality. */
export const UNMATCHED_ROUTE = 'unmatched';

interface RouteLayer {
  route?: { path: string; _handlesMethod?: (method: string) => boolean };
  match?: (path: string) => unknown;
}

/**
 * The route pattern a request belongs to (`/models/:name`), for metric labels and logs.
 * Express sets req.route once a route matched. Requests refused before routing (body too large,
 * malformed JSON, shed) have no req.route, so the app's routes are matched here, read-only,
 * with Express's own matchers; anything that fails to match is "unmatched".
 */
export function routeLabel(req: Request): string {
  if (req.route?.path) return label(`${req.baseUrl ?? ''}${String(req.route.path)}`);
  try {
    const stack = (req.app as unknown as { router?: { stack?: RouteLayer[] } }).router?.stack ?? [];
    const path = (req.originalUrl ?? req.url).split('?')[0];
    for (const layer of stack) {
      const route = layer.route;
      // Catch-alls (`/{*path}`, registered before the controllers) match everything: skip them.
      if (!route || !layer.match || isCatchAll(route.path)) continue;
      if (route._handlesMethod && !route._handlesMethod(req.method)) continue;
      if (layer.match(path)) return label(route.path);
    }
  } catch {
    // Express internals changed: fall through to the safe label.
  }
  return UNMATCHED_ROUTE;
}

/** routeLabel, computed once per request: the request log and the metrics both label with it. */
export function routeOf(req: Request, res: Response): string {
  const info = requestInfoOf(res);
  info.route ??= routeLabel(req);
  return info.route;
}

const isCatchAll = (pattern: string) => pattern.includes('*');

/** A catch-all route (`/{*path}`) is not an endpoint of ours: its requests are "unmatched". */
function label(pattern: string): string {
  return isCatchAll(pattern) ? UNMATCHED_ROUTE : pattern;
}
