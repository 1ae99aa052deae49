import { ADMIN_TOKEN_PREFIX, HOST_CREDENTIAL_PREFIX } from '../secrets';
import { bearerToken, requireAdmin, requireHost } from '../auth';
import type { ApiContext } from '../context';
import { ifNoneMatchMatches } from '../etag';
import type { ApiRequest, ApiResponse } from '../http';
import { ApiProblem, unauthorized, validationProblem } from '../problem';
import { parseRoutesVersion, snapshotJson } from '../route-table';
import { parseQuery, routesQuery } from '../validation';
import type { RoutesHead } from '../../store';

/**
 * `GET /v1/routes[?wait=s][&host=<proxy host id>][&since=<version>]`: the proxies' route table
 * with an ETag (its version, quoted). With a matching If-None-Match, 304 at once, or after holding
 * the request until the routes change or `wait` seconds pass (at most `longPollMaxSeconds`: 0 in
 * Lambda, which answers at once; proxies watch the gateway server). With `since`, the changes after that
 * version (`{from, to, upsert, remove}`), held the same way while there are none, or the whole
 * table with a `snapshot` reason when they cannot be given. Readers: the admin, or a proxy host
 * with its own credential (`?host=`).
 */
export async function getRoutes(ctx: ApiContext, request: ApiRequest): Promise<ApiResponse> {
  const query = parseQuery(request.query, routesQuery);
  await requireRouteReader(ctx, request, query.host);
  const deadline = Date.now() + Math.min(query.wait ?? 0, ctx.settings.longPollMaxSeconds) * 1000;
  if (query.since !== undefined) return changesSince(ctx, request, query.since, deadline);
  const ifNoneMatch = request.headers['if-none-match'];
  for (;;) {
    const table = await ctx.routes.current();
    if (!ifNoneMatchMatches(ifNoneMatch, table.etag)) return ok(table.etag, table.json);
    const remaining = deadline - Date.now();
    if (remaining <= 0 || request.signal?.aborted) return notModified(table.etag);
    const outcome = await ctx.routesFeed.wait('', table.counter, remaining, request.signal);
    if (outcome === 'aborted') return notModified(table.etag);
    ctx.routes.recheck();
  }
}

async function changesSince(ctx: ApiContext, request: ApiRequest, sinceText: string, deadline: number): Promise<ApiResponse> {
  const since = parseRoutesVersion(sinceText) as RoutesHead;
  const etag = `"${sinceText}"`;
  for (;;) {
    const { answer, head } = await ctx.routes.since(since);
    if (answer.kind === 'delta') return ok(`"${answer.to}"`, answer.json);
    if (answer.kind === 'snapshot') {
      const table = await ctx.routes.current();
      return ok(table.etag, snapshotJson(table, answer.reason));
    }
    const remaining = deadline - Date.now();
    if (remaining <= 0 || request.signal?.aborted) return notModified(etag);
    const outcome = await ctx.routesFeed.wait('', head.seq, remaining, request.signal);
    if (outcome === 'aborted') return notModified(etag);
    ctx.routes.recheck();
  }
}

function ok(etag: string, json: string): ApiResponse {
  return { status: 200, headers: { 'content-type': 'application/json', 'cache-control': 'no-cache', etag }, body: json };
}

async function requireRouteReader(ctx: ApiContext, request: ApiRequest, hostId: string | undefined): Promise<void> {
  const token = bearerToken(request);
  if (token === undefined || request.iam || token.startsWith(ADMIN_TOKEN_PREFIX)) {
    requireAdmin(ctx, request);
    return;
  }
  if (!token.startsWith(HOST_CREDENTIAL_PREFIX)) throw unauthorized('this route needs the admin token or a proxy host credential');
  if (hostId === undefined) {
    throw validationProblem([{ field: 'host', message: 'is required with a host credential: the id of the proxy host it belongs to' }]);
  }
  const host = await requireHost(ctx, request, hostId);
  if (host.role !== 'proxy' || host.status !== 'active') {
    throw new ApiProblem(403, 'forbidden', 'Forbidden', `host ${hostId} is not an active proxy; only proxies read the route table`);
  }
}

function notModified(etag: string): ApiResponse {
  return { status: 304, headers: { etag, 'cache-control': 'no-cache' }, body: '' };
}
