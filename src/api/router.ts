import type { ApiContext } from './context';
import type { ApiRequest, ApiResponse } from './http';
import { ApiProblem } from './problem';

export type RouteHandler = (ctx: ApiContext, request: ApiRequest, ...params: string[]) => Promise<ApiResponse>;

/** One route: a method, a path template (`/v1/hosts/{id}`, as API Gateway writes it) and its handler. */
export interface ApiRoute {
  readonly method: string;
  readonly path: string;
  readonly pattern: RegExp;
  readonly handler: RouteHandler;
}

/** A route for `path`, each `{name}` segment passed to the handler as a decoded parameter. */
export function apiRoute(method: string, path: string, handler: RouteHandler): ApiRoute {
  return { method, path, pattern: new RegExp(`^${path.replace(/\{[^}/]+\}/g, '([^/]+)')}$`), handler };
}

/** Finds the route for a request: 404 for an unknown path, 405 (with Allow) for a known path and another method. */
export function route(routes: readonly ApiRoute[], request: ApiRequest): { handler: RouteHandler; params: string[] } {
  const path = request.path.length > 1 ? request.path.replace(/\/+$/, '') : request.path;
  const matching = routes.map((r) => ({ r, m: r.pattern.exec(path) })).filter((x) => x.m !== null);
  if (matching.length === 0) throw new ApiProblem(404, 'not-found', 'Not found', `no route ${path}`);
  const hit = matching.find((x) => x.r.method === request.method || (request.method === 'HEAD' && x.r.method === 'GET'));
  if (!hit) {
    const allow = [...new Set(matching.map((x) => x.r.method))].join(', ');
    throw new ApiProblem(405, 'method-not-allowed', 'Method not allowed', `${request.method} is not allowed on ${path}`, undefined, { allow });
  }
  return { handler: hit.r.handler, params: (hit.m as RegExpExecArray).slice(1).map(decodeURIComponent) };
}
