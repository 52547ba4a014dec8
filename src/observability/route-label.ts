import type { Request, Response } from 'express';
import { requestInfoOf } from './request-context';

/** Label of requests that match no route (404s); never the raw URL, which would explode cardinality. */
export const UNMATCHED_ROUTE = 'unmatched';

/**
 * Label of Swagger UI: its page and the files it loads. express.static serves the files without a
 * route, so they would otherwise count as "unmatched", beside scanners' 404s. Case-insensitive, as
 * Express mounts them (`SwaggerModule.setup('docs', ...)` in app.setup.ts).
 */
export const DOCS_ROUTE = '/docs';
const DOCS_PATH = /^\/docs(\/|$)/i;

interface RouteLayer {
  route?: {
    path: string;
    methods?: Record<string, boolean>;
    _handlesMethod?: (method: string) => boolean;
  };
  match?: (path: string) => unknown;
}

/** The app's own routes (catch-alls excluded) whose pattern matches the request's path. */
function routesMatching(req: Request): NonNullable<RouteLayer['route']>[] {
  const stack = (req.app as unknown as { router?: { stack?: RouteLayer[] } }).router?.stack ?? [];
  const path = (req.originalUrl ?? req.url).split('?')[0];
  return stack
    .filter((layer) => layer.route && layer.match && !isCatchAll(layer.route.path))
    .filter((layer) => layer.match!(path))
    .map((layer) => layer.route!);
}

/**
 * The route pattern a request belongs to (`/models/:name`), for metric labels and logs.
 * Express sets req.route once a route matched. Requests refused before routing (body too large,
 * malformed JSON, shed) have no req.route, so the app's routes are matched here, read-only,
 * with Express's own matchers; anything that fails to match is "unmatched".
 */
export function routeLabel(req: Request): string {
  // originalUrl: a mounted static handler leaves req.url without its prefix.
  if (DOCS_PATH.test((req.originalUrl ?? req.url).split('?')[0])) return DOCS_ROUTE;
  if (req.route?.path) return label(`${req.baseUrl ?? ''}${String(req.route.path)}`);
  try {
    const route = routesMatching(req).find(
      (r) => !r._handlesMethod || r._handlesMethod(req.method),
    );
    if (route) return label(route.path);
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

/**
 * Of the routes that match one path, those meant by it: the ones with the most literal text. A
 * parameter takes anything within a segment, so TF Serving's status route `/v1/models/:name`
 * also matches `/v1/models/iris:predict`, which is the predict route's path, not a model named
 * 'iris:predict'. Routes that match the same path have the same segments, so the literal text
 * they spell out is what tells them apart.
 */
function mostLiteral<T extends { path: string }>(routes: T[]): T[] {
  const literal = (pattern: string) =>
    pattern.replace(
      /\\(.)|:[$_\p{ID_Start}][$\p{ID_Continue}]*/gu,
      (_param, escaped?: string) => escaped ?? '',
    ).length;
  const most = Math.max(...routes.map((route) => literal(route.path)));
  return routes.filter((route) => literal(route.path) === most);
}

/**
 * Whether one of the app's endpoints took the request. Middleware bound with forRoutes('*')
 * (nestjs-pino's) leaves its catch-all in req.route even when no endpoint matched afterwards.
 */
export function hasMatchedEndpoint(req: Request): boolean {
  const path = (req.route as { path?: unknown } | undefined)?.path;
  return path !== undefined && !isCatchAll(String(path));
}

/**
 * The methods the app answers on the request's path (`['POST']` for `/predict`), empty when the
 * path is not one of its routes: a wrong method on a known path is a 405 with `Allow`, not a 404.
 * GET routes answer HEAD too, as Express does. Only the routes the path names count (mostLiteral):
 * `/v1/models/iris:predict` allows POST, not also the GET of the status route `/v1/models/:name`.
 */
export function allowedMethods(req: Request): string[] {
  try {
    const methods = new Set(
      mostLiteral(routesMatching(req)).flatMap((route) =>
        Object.keys(route.methods ?? {})
          .filter((m) => m !== '_all')
          .map((m) => m.toUpperCase()),
      ),
    );
    if (methods.has('GET')) methods.add('HEAD');
    return [...methods].sort();
  } catch {
    return []; // Express internals changed: a plain 404 is still a correct answer.
  }
}

/**
 * A catch-all route (`/{*path}`) is not an endpoint of ours: its requests are "unmatched".
 * Escapes are dropped: TF Serving's `/v1/models/:name\:predict` is labelled `/v1/models/:name:predict`.
 */
function label(pattern: string): string {
  return isCatchAll(pattern) ? UNMATCHED_ROUTE : pattern.replace(/\\(.)/g, '$1');
}
