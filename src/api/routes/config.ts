import { type HostRecord, PublicKeyTakenError, StateConflictError } from '../../store';
import { requireHost } from '../auth';
import { noteConfigDelivered, refuseRetiredIssuer } from '../ca-rotation-service';
import { withCurrentEgressCertificate } from '../egress-certificate';
import { acceptsConfigDelta, blocklistChanges, CONFIG_DELTA_TYPE, configDelta } from '../config-delta';
import { type ApiContext, issueCertificate, parsePublicKey } from '../context';
import { type ConfigTag, configEtag, ifNoneMatchMatches, parseConfigEtag } from '../etag';
import { configTag, renderHostConfig, renderHostConfigWith } from '../host-config';
import { LAST_SEEN_INTERVAL_MS, parseAgentUserAgent, shouldRecordSeen } from '../last-seen';
import type { ApiRequest, ApiResponse } from '../http';
import { ApiProblem, conflict, jsonResponse } from '../problem';
import { configQuery, parseJsonBody, parseQuery, renewBody } from '../validation';

/**
 * `GET /v1/hosts/{id}/config[?wait=s]`: the host's current config with an ETag. With a matching
 * If-None-Match, 304 at once, or after holding the request until the config changes or `wait`
 * seconds pass (at most `longPollMaxSeconds`: 0 in Lambda, which answers at once). A client that
 * accepts config deltas (`Accept: application/vnd.nebula-gateway.config-delta+json`) and whose
 * config differs from the current one only in the blocklist gets the blocklist change alone;
 * anything else (another certificate, lighthouse or CA, a blocklist this process no longer knows)
 * gets the whole config.
 *
 * Waking thousands of watchers on a revocation must not cost a store read each: a woken request
 * keeps the host it authenticated with for the delta (which carries nothing of the host), and
 * reads the host again only to send a whole config or when the host is among the revoked.
 */
export async function getConfig(ctx: ApiContext, request: ApiRequest, hostId: string): Promise<ApiResponse> {
  const query = parseQuery(request.query, configQuery);
  let host = await requireHost(ctx, request, hostId);
  await noteAgentSeen(ctx, request, host);
  let fresh = true;
  const ifNoneMatch = request.headers['if-none-match'];
  const known = acceptsConfigDelta(request.headers.accept) ? parseConfigEtag(ifNoneMatch) : undefined;
  const deadline = Date.now() + Math.min(query.wait ?? 0, ctx.settings.longPollMaxSeconds) * 1000;
  for (;;) {
    const view = await ctx.views.current();
    if (!fresh && view.revocations.some((r) => r.hostId === hostId)) {
      host = await activeHost(ctx, hostId);
      fresh = true;
    }
    if (host.status !== 'active') throw noLongerActive(hostId);
    // An egress node's certificate follows the network's egress routes (see egress-certificate.ts).
    host = await withCurrentEgressCertificate(ctx, host, view);
    const blocklist = ctx.views.blocklist(view, ctx.clock());
    const tag = configTag(host, view, blocklist, ctx.settings.watchUrl);
    const etag = configEtag(tag);
    if (!ifNoneMatchMatches(ifNoneMatch, etag)) {
      const delta = known && deltaAnswer(ctx, known, tag);
      if (delta) return delta;
      if (!fresh) {
        host = await activeHost(ctx, hostId);
        fresh = true;
        continue;
      }
      const rendered = renderHostConfigWith(host, view, blocklist, ctx.settings.watchUrl);
      await noteConfigDelivered(ctx, host, view);
      return jsonResponse(200, rendered.body, { etag: rendered.etag, 'cache-control': 'no-cache', vary: 'accept' });
    }
    await noteConfigDelivered(ctx, host, view);
    const remaining = deadline - Date.now();
    if (remaining <= 0 || request.signal?.aborted) return notModified(etag);
    const outcome = await ctx.feed.wait(hostId, view.version, Math.min(remaining, untilExpiry(ctx, blocklist.nextExpiry)), request.signal);
    if (outcome === 'aborted') return notModified(etag);
    if (outcome === 'host') host = await activeHost(ctx, hostId);
    fresh = outcome === 'host';
    ctx.views.recheck();
  }
}

/**
 * Writes down that the host's agent called, with the versions its User-Agent names, at most once
 * per LAST_SEEN_INTERVAL_MS unless a version changed (last-seen.ts, store/host-seen.ts). Never
 * fails the call: a failed write is logged and the config is served all the same.
 */
async function noteAgentSeen(ctx: ApiContext, request: ApiRequest, host: HostRecord): Promise<void> {
  const versions = parseAgentUserAgent(request.headers['user-agent']);
  const now = ctx.clock();
  if (host.status !== 'active' || !shouldRecordSeen(host, versions, now)) return;
  try {
    await ctx.store.recordHostSeen({ hostId: host.id, at: now, ...versions, minIntervalMs: LAST_SEEN_INTERVAL_MS });
  } catch (err) {
    ctx.logger?.error('host last seen not recorded', { hostId: host.id, error: (err as Error).message });
  }
}

/** A blocklisted certificate expiring changes the config by itself: wake a second after it does. */
function untilExpiry(ctx: ApiContext, nextExpiry: Date | undefined): number {
  return nextExpiry ? Math.max(nextExpiry.getTime() - ctx.clock().getTime() + 1000, 0) : Infinity;
}

/** The blocklist change from the client's config to the current one, when that is all that changed and its blocklist is known here. */
function deltaAnswer(ctx: ApiContext, known: ConfigTag, current: ConfigTag): ApiResponse | undefined {
  if (known.hostPart !== current.hostPart) return undefined;
  const before = ctx.views.blocklists.get(known.blocklistPart);
  const after = ctx.views.blocklists.get(current.blocklistPart);
  if (!before || !after) return undefined;
  const delta = configDelta(known, current, blocklistChanges(before, after));
  return {
    status: 200,
    headers: { 'content-type': CONFIG_DELTA_TYPE, etag: delta.to, 'cache-control': 'no-cache', vary: 'accept' },
    body: JSON.stringify(delta),
  };
}

async function activeHost(ctx: ApiContext, hostId: string): Promise<HostRecord> {
  const host = await ctx.store.getHost(hostId);
  if (!host || host.status !== 'active') throw noLongerActive(hostId);
  return host;
}

function noLongerActive(hostId: string): ApiProblem {
  return new ApiProblem(401, 'unauthorized', 'Not authenticated', `host ${hostId} is no longer active`, undefined, { 'www-authenticate': 'Bearer' });
}

/** `POST /v1/hosts/{id}/renew {publicKey?}`: a new certificate (for a new key if given) and config. */
export async function renew(ctx: ApiContext, request: ApiRequest, hostId: string): Promise<ApiResponse> {
  const input = parseJsonBody(request.body, renewBody, { emptyIsObject: true });
  const publicKey = input.publicKey === undefined ? undefined : parsePublicKey(input.publicKey);
  const host = await requireHost(ctx, request, hostId);
  await noteAgentSeen(ctx, request, host);
  if (!host.publicKey) throw conflict('not-enrolled', `host ${hostId} has not enrolled yet`);
  const key = publicKey ?? parsePublicKey(host.publicKey);
  const view = await ctx.views.current();
  refuseRetiredIssuer(host, view);
  const certificate = await issueCertificate(ctx, view, host, key);
  let renewed;
  try {
    renewed = await ctx.store.recordCertificate({ host, certificate, expectedCredentialHash: host.credentialHash, now: ctx.clock() });
  } catch (err) {
    if (err instanceof PublicKeyTakenError) throw conflict('public-key-taken', err.message, 'publicKey');
    if (err instanceof StateConflictError) throw new ApiProblem(401, 'unauthorized', 'Not authenticated', err.message);
    throw err;
  }
  ctx.feed.notifyHost(hostId);
  ctx.logger?.info('host renewed', { hostId, fingerprint: certificate.fingerprint });
  const rendered = renderHostConfig(renewed, view, ctx.clock(), ctx.settings.watchUrl);
  return jsonResponse(200, rendered.body, { etag: rendered.etag });
}

function notModified(etag: string): ApiResponse {
  return { status: 304, headers: { etag, 'cache-control': 'no-cache' }, body: '' };
}
