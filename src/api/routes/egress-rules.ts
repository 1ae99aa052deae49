import * as z from 'zod/mini';
import { ADMIN_TOKEN_PREFIX, HOST_CREDENTIAL_PREFIX } from '../secrets';
import { bearerToken, requireAdmin, requireHost } from '../auth';
import type { ApiContext } from '../context';
import { EgressFeedCache } from '../egress-feed';
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
 * own credential, or the admin. Egress nodes poll it every few seconds: an unchanged feed costs one
 * GetItem of the egress version (EgressFeedCache), which moves with every policy, owner, egress
 * route and revocation of an environment, so each shows at the next poll.
 */
export async function getEgressRules(ctx: ApiContext, request: ApiRequest): Promise<ApiResponse> {
  const query = parseQuery(request.query, egressRulesQuery);
  await requireEgressReader(ctx, request, query.host);
  const feed = await feedCache(ctx).current();
  const etag = `"${feed.version}"`;
  if (ifNoneMatchMatches(request.headers['if-none-match'], etag)) return { status: 304, headers: { etag, 'cache-control': 'no-cache' }, body: '' };
  return { status: 200, headers: { 'content-type': 'application/json', 'cache-control': 'no-cache', etag }, body: JSON.stringify(feed) };
}

/** One feed cache per API instance. */
const caches = new WeakMap<ApiContext, EgressFeedCache>();

function feedCache(ctx: ApiContext): EgressFeedCache {
  let cache = caches.get(ctx);
  if (!cache) {
    cache = new EgressFeedCache(ctx.store);
    caches.set(ctx, cache);
  }
  return cache;
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
