import { type HostRecord, PublicKeyTakenError, StateConflictError } from '../../store';
import { requireHost } from '../auth';
import { type ApiContext, issueCertificate, parsePublicKey } from '../context';
import { ifNoneMatchMatches } from '../etag';
import { type RenderedConfig, renderHostConfig } from '../host-config';
import type { ApiRequest, ApiResponse } from '../http';
import { ApiProblem, conflict, jsonResponse } from '../problem';
import { configQuery, parseJsonBody, parseQuery, renewBody } from '../validation';

/**
 * `GET /v1/hosts/{id}/config[?wait=s]`: the host's current config with an ETag. With a matching
 * If-None-Match, 304 at once, or after holding the request until the config changes or `wait`
 * seconds pass.
 */
export async function getConfig(ctx: ApiContext, request: ApiRequest, hostId: string): Promise<ApiResponse> {
  const query = parseQuery(request.query, configQuery);
  let known: HostRecord | undefined = await requireHost(ctx, request, hostId);
  const ifNoneMatch = request.headers['if-none-match'];
  const deadline = Date.now() + (query.wait ?? 0) * 1000;
  for (;;) {
    const { rendered, version } = await current(ctx, hostId, known);
    known = undefined;
    if (!ifNoneMatchMatches(ifNoneMatch, rendered.etag)) {
      return jsonResponse(200, rendered.body, { etag: rendered.etag, 'cache-control': 'no-cache' });
    }
    const remaining = deadline - Date.now();
    if (remaining <= 0 || request.signal?.aborted) return notModified(rendered.etag);
    // Also wake when a blocklisted certificate expires: the config changes then by itself.
    const untilExpiry = rendered.nextExpiry ? rendered.nextExpiry.getTime() - ctx.clock().getTime() + 1000 : Infinity;
    const outcome = await ctx.feed.wait(hostId, version, Math.min(remaining, Math.max(untilExpiry, 0)), request.signal);
    if (outcome === 'aborted') return notModified(rendered.etag);
    ctx.views.recheck();
  }
}

/** `POST /v1/hosts/{id}/renew {publicKey?}`: a new certificate (for a new key if given) and config. */
export async function renew(ctx: ApiContext, request: ApiRequest, hostId: string): Promise<ApiResponse> {
  const input = parseJsonBody(request.body, renewBody, { emptyIsObject: true });
  const publicKey = input.publicKey === undefined ? undefined : parsePublicKey(input.publicKey);
  const host = await requireHost(ctx, request, hostId);
  if (!host.publicKey) throw conflict('not-enrolled', `host ${hostId} has not enrolled yet`);
  const key = publicKey ?? parsePublicKey(host.publicKey);
  const view = await ctx.views.current();
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
  const rendered = renderHostConfig(renewed, view, ctx.clock());
  return jsonResponse(200, rendered.body, { etag: rendered.etag });
}

/** The config as of now; `known` is the host just read by authentication (re-read on later rounds). */
async function current(ctx: ApiContext, hostId: string, known?: HostRecord): Promise<{ rendered: RenderedConfig; version: number }> {
  const [view, host] = await Promise.all([ctx.views.current(), known ?? ctx.store.getHost(hostId)]);
  if (!host || host.status !== 'active') {
    throw new ApiProblem(401, 'unauthorized', 'Not authenticated', `host ${hostId} is no longer active`, undefined, { 'www-authenticate': 'Bearer' });
  }
  return { rendered: renderHostConfig(host, view, ctx.clock()), version: view.version };
}

function notModified(etag: string): ApiResponse {
  return { status: 304, headers: { etag, 'cache-control': 'no-cache' }, body: '' };
}
