import { AsyncLocalStorage } from 'node:async_hooks';

/**
 * What one request carries through the serving core, whatever protocol brought it. The edge
 * opens the scope (observability's runWithRequestInfo adds its own fields), so that code which
 * never sees the request (ModelService.infer, shared by every protocol) can read and label it.
 */
export interface RequestScope {
  /** Set once a loaded model was picked (see annotateRequestModel). */
  model?: string;
  version?: string;
  /** Aborted when the client leaves or the deadline passes: queued inference is then dropped. */
  abort?: AbortController;
}

const storage = new AsyncLocalStorage<RequestScope>();

/** Runs the rest of a request's handling inside its scope. */
export function runInRequestScope<T>(scope: RequestScope, next: () => T): T {
  return storage.run(scope, next);
}

/** Records which model served the current request (no-op outside a request, e.g. warm-up). */
export function annotateRequestModel(model: string, version: number | string): void {
  const scope = storage.getStore();
  if (scope) {
    scope.model = model;
    scope.version = String(version);
  }
}

/** The current request's abort signal, if any (undefined outside a request). */
export function currentRequestSignal(): AbortSignal | undefined {
  return storage.getStore()?.abort?.signal;
}
