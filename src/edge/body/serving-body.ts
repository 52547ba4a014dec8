import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { AppConfig } from '../../config/app-config';
import { runWithRequestInfo } from '../../observability/request-context';
import { claimRequest } from '../errors/serving-request';
import { V2_BINARY_FRAMING } from '../v2/v2-binary';
import { jsonBody } from './json-body.middleware';
import type { JsonParsePool } from './json-parse-pool';

const HANDLED = Symbol('servingBodyHandled');
type Handled = Request & { [HANDLED]?: true };

/**
 * The model server's request handling before routing, for the requests `owns` accepts: claims
 * them (the server's error bodies), reads the body with BODY_LIMIT and the JSON limits (JSON
 * whatever its Content-Type, but V2 binary tensor data and multipart on /predict), then runs the
 * rest in the request's async context. Once per request: the standalone server installs it for
 * every path and the module again for its own routes.
 */
export function servingBody(
  config: AppConfig,
  parsePool: JsonParsePool | undefined,
  owns: (req: Request) => boolean,
): RequestHandler {
  const steps: RequestHandler[] = [
    ...jsonBody({
      limit: config.BODY_LIMIT,
      limits: {
        maxDepth: config.JSON_MAX_DEPTH,
        maxElements: config.JSON_MAX_ELEMENTS,
        maxKeys: config.JSON_MAX_KEYS,
        maxValues: config.JSON_MAX_VALUES,
      },
      framed: V2_BINARY_FRAMING,
      multipartPaths: ['/predict'],
      parsePool: config.JSON_PARSE_THREADS > 0 ? parsePool : undefined,
    }),
    // After the body parser: from here on ModelService.infer can label the request with its model.
    (_req: Request, res: Response, next: NextFunction) => runWithRequestInfo(res, next),
  ];
  return (req: Request, res: Response, next: NextFunction) => {
    if ((req as Handled)[HANDLED] || !owns(req)) return next();
    (req as Handled)[HANDLED] = true;
    claimRequest(req);
    let at = 0;
    const step = (error?: unknown): void => {
      if (error !== undefined && error !== null) return next(error);
      const handler = steps[at++];
      if (!handler) return next();
      void handler(req, res, step);
    };
    step();
  };
}
