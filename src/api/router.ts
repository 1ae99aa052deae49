import { printable } from '../mesh/ipv4';
import type { ApiContext } from './context';
import type { ApiRequest, ApiResponse } from './http';
import { ApiProblem, notFound } from './problem';
import { HOST_ID_PATTERN } from './secrets';

export type RouteHandler = (ctx: ApiContext, request: ApiRequest, ...params: string[]) => Promise<ApiResponse>;

/** One route: a method, a path template (`/v1/hosts/{id}`, as API Gateway writes it) and its handler. */
export interface ApiRoute {
  readonly method: string;
  readonly path: string;
  readonly pattern: RegExp;
  /** The `{name}`s of the template, in order. */
  readonly params: readonly string[];
  readonly handler: RouteHandler;
}

/**
 * Path parameters of a known shape. Anything else names nothing: 404 before any handler or store
 * read, whatever its length or bytes (a 10 KB id would otherwise reach DynamoDB's key size limit).
 */
const PARAM_SHAPES: Readonly<Record<string, { pattern: RegExp; what: string }>> = {
  id: { pattern: HOST_ID_PATTERN, what: 'host' },
};

/** A route for `path`, each `{name}` segment passed to the handler as a decoded parameter. */
export function apiRoute(method: string, path: string, handler: RouteHandler): ApiRoute {
  const params = [...path.matchAll(/\{([^}/]+)\}/g)].map((m) => m[1]);
  return { method, path, pattern: new RegExp(`^${path.replace(/\{[^}/]+\}/g, '([^/]+)')}$`), params, handler };
}

/**
 * Finds the route for a request: 404 for an unknown path or a parameter that cannot name anything,
 * 405 (with Allow) for a known path and another method. Problems echo the path only shortened and
 * with control and non-ASCII characters replaced (see printable).
 */
export function route(routes: readonly ApiRoute[], request: ApiRequest): { handler: RouteHandler; params: string[] } {
  const path = request.path.length > 1 ? request.path.replace(/\/+$/, '') : request.path;
  const matching = routes.map((r) => ({ r, m: r.pattern.exec(path) })).filter((x) => x.m !== null);
  if (matching.length === 0) throw notFound(`no route ${printable(path)}`);
  const hit = matching.find((x) => x.r.method === request.method || (request.method === 'HEAD' && x.r.method === 'GET'));
  if (!hit) {
    const allow = [...new Set(matching.map((x) => x.r.method))].join(', ');
    throw new ApiProblem(405, 'method-not-allowed', 'Method not allowed', `${request.method} is not allowed on ${printable(path)}`, undefined, { allow });
  }
  const raw = (hit.m as RegExpExecArray).slice(1);
  return { handler: hit.r.handler, params: raw.map((value, i) => decodeParam(value, hit.r.params[i])) };
}

function decodeParam(raw: string, name: string): string {
  const shape = PARAM_SHAPES[name];
  let value: string;
  try {
    value = decodeURIComponent(raw);
  } catch {
    throw notFound(`no ${shape?.what ?? name} ${printable(raw)} (malformed percent-encoding)`);
  }
  if (shape && !shape.pattern.test(value)) throw notFound(`no ${shape.what} ${printable(value)}`);
  return value;
}
