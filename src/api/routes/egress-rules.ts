import * as z from 'zod/mini';
import { ADMIN_TOKEN_PREFIX, HOST_CREDENTIAL_PREFIX } from '../secrets';
import { bearerToken, requireAdmin, requireHost } from '../auth';
import type { ApiContext } from '../context';
import { buildEgressFeed, type EgressFeed, listEnvironments } from '../egress-feed';
import { ifNoneMatchMatches } from '../etag';
import type { ApiRequest, ApiResponse } from '../http';
import { ApiProblem, unauthorized, validationProblem } from '../problem';
import { parseQuery } from '../validation';

const egressRulesQuery = z.strictObject({
  /** With a host credential: the egress host it belongs to. */
  host: z.optional(z.string().check(z.maxLength(64))),
});

/**
 * `GET /v1/egress/rules?host=<egress host id>`: what the egress nodes enforce, with an ETag (the
 * feed's content hash); a matching If-None-Match gets 304. Readers: an active egress host with its
 * own credential, or the admin. Read fresh on every request (egress nodes poll it every few
 * seconds; there are few of them): a policy, an environment's owner or a revocation shows at once.
 */
export async function getEgressRules(ctx: ApiContext, request: ApiRequest): Promise<ApiResponse> {
  const query = parseQuery(request.query, egressRulesQuery);
  await requireEgressReader(ctx, request, query.host);
  const feed = await currentFeed(ctx);
  const etag = `"${feed.version}"`;
  if (ifNoneMatchMatches(request.headers['if-none-match'], etag)) return { status: 304, headers: { etag, 'cache-control': 'no-cache' }, body: '' };
  return { status: 200, headers: { 'content-type': 'application/json', 'cache-control': 'no-cache', etag }, body: JSON.stringify(feed) };
}

/** Concurrent requests share one read of the store. */
const reading = new WeakMap<ApiContext, Promise<EgressFeed>>();

function currentFeed(ctx: ApiContext): Promise<EgressFeed> {
  let pending = reading.get(ctx);
  if (!pending) {
    pending = readFeed(ctx).finally(() => reading.delete(ctx));
    reading.set(ctx, pending);
  }
  return pending;
}

async function readFeed(ctx: ApiContext): Promise<EgressFeed> {
  // A revocation or an egress route change made by another instance must show now, not within the view's staleness.
  ctx.views.recheck();
  const view = await ctx.views.current();
  const [policies, environments] = await Promise.all([ctx.store.listEgressPolicies(), listEnvironments(ctx.store)]);
  const revokedHostIds = new Set(view.revocations.map((r) => r.hostId));
  return buildEgressFeed({ routes: view.egressRoutes, policies, environments, revokedHostIds });
}

async function requireEgressReader(ctx: ApiContext, request: ApiRequest, hostId: string | undefined): Promise<void> {
  const token = bearerToken(request);
  if (token === undefined || request.iam || token.startsWith(ADMIN_TOKEN_PREFIX)) {
    requireAdmin(ctx, request);
    return;
  }
  if (!token.startsWith(HOST_CREDENTIAL_PREFIX)) throw unauthorized('this route needs an egress host credential (gwh_…) or the admin token');
  if (hostId === undefined) {
    throw validationProblem([{ field: 'host', message: 'is required with a host credential: the id of the egress host it belongs to' }]);
  }
  const host = await requireHost(ctx, request, hostId);
  if (host.role !== 'egress' || host.status !== 'active') {
    throw new ApiProblem(403, 'forbidden', 'Forbidden', `host ${hostId} is not an active egress node; only egress nodes read the egress rules`);
  }
}
