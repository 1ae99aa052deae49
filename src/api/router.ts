import type { ApiContext } from './context';
import type { ApiRequest, ApiResponse } from './http';
import { ApiProblem } from './problem';
import { getConfig, renew } from './routes/config';
import { enroll } from './routes/enroll';
import { createHost, getHost, listHosts, revokeHost } from './routes/hosts';
import { getNetwork, health } from './routes/network';
import { registerNode } from './routes/nodes';
import { createAccessToken } from './routes/access-tokens';
import { deletePort, putPort } from './routes/ports';
import { getRoutes } from './routes/route-table';

type Handler = (ctx: ApiContext, request: ApiRequest, ...params: string[]) => Promise<ApiResponse>;

interface Route {
  readonly method: string;
  readonly pattern: RegExp;
  readonly handler: Handler;
}

const HOST_ID = '([^/]+)';

/** The v1 routes of DESIGN.md, and issue 6's ports, access tokens and route table. */
const ROUTES: readonly Route[] = [
  { method: 'GET', pattern: /^\/healthz$/, handler: (ctx) => health(ctx) },
  { method: 'GET', pattern: /^\/v1\/network$/, handler: (ctx) => getNetwork(ctx) },
  { method: 'POST', pattern: /^\/v1\/hosts$/, handler: createHost },
  { method: 'GET', pattern: /^\/v1\/hosts$/, handler: listHosts },
  { method: 'GET', pattern: new RegExp(`^/v1/hosts/${HOST_ID}$`), handler: getHost },
  { method: 'DELETE', pattern: new RegExp(`^/v1/hosts/${HOST_ID}$`), handler: revokeHost },
  { method: 'GET', pattern: new RegExp(`^/v1/hosts/${HOST_ID}/config$`), handler: getConfig },
  { method: 'POST', pattern: new RegExp(`^/v1/hosts/${HOST_ID}/renew$`), handler: renew },
  { method: 'POST', pattern: /^\/v1\/enroll$/, handler: enroll },
  { method: 'POST', pattern: /^\/v1\/nodes\/register$/, handler: registerNode },
  { method: 'PUT', pattern: new RegExp(`^/v1/hosts/${HOST_ID}/ports/([^/]+)$`), handler: putPort },
  { method: 'DELETE', pattern: new RegExp(`^/v1/hosts/${HOST_ID}/ports/([^/]+)$`), handler: deletePort },
  { method: 'POST', pattern: /^\/v1\/access-tokens$/, handler: createAccessToken },
  { method: 'GET', pattern: /^\/v1\/routes$/, handler: getRoutes },
];

/** Finds the route for a request: 404 for an unknown path, 405 (with Allow) for a known path and another method. */
export function route(request: ApiRequest): { handler: Handler; params: string[] } {
  const path = request.path.length > 1 ? request.path.replace(/\/+$/, '') : request.path;
  const matching = ROUTES.map((r) => ({ r, m: r.pattern.exec(path) })).filter((x) => x.m !== null);
  if (matching.length === 0) throw new ApiProblem(404, 'not-found', 'Not found', `no route ${path}`);
  const hit = matching.find((x) => x.r.method === request.method || (request.method === 'HEAD' && x.r.method === 'GET'));
  if (!hit) {
    const allow = [...new Set(matching.map((x) => x.r.method))].join(', ');
    throw new ApiProblem(405, 'method-not-allowed', 'Method not allowed', `${request.method} is not allowed on ${path}`, undefined, { allow });
  }
  return { handler: hit.r.handler, params: (hit.m as RegExpExecArray).slice(1).map(decodeURIComponent) };
}
