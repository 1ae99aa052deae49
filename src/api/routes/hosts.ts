import { endpointsPort, formatEndpoint, parseEndpoint } from '../../mesh/endpoint';
import { certificateGroups } from '../../mesh/roles';
import { AddressTakenError, HostNameTakenError, InvalidCursorError, NetworkFullError, StateConflictError, type HostRecord } from '../../store';
import { requireAdmin } from '../auth';
import type { ApiContext } from '../context';
import { publicHost } from '../host-view';
import { revokeHostById } from '../revocation';
import type { ApiRequest, ApiResponse } from '../http';
import { ApiProblem, conflict, jsonResponse, notFound, validationProblem } from '../problem';
import { ENROLLMENT_TOKEN_PREFIX, hashSecret, newHostId, newSecret } from '../secrets';
import { createHostBody, listHostsQuery, meshField, parseJsonBody, parseQuery, updateHostBody } from '../validation';

/**
 * `POST /v1/hosts`: a host, its address, its name and its one-time enrollment token, in one
 * transaction. Names are unique among hosts that are not revoked (409 naming `name`).
 */
export async function createHost(ctx: ApiContext, request: ApiRequest): Promise<ApiResponse> {
  requireAdmin(ctx, request);
  const input = parseJsonBody(request.body, createHostBody);
  const groups = meshField(() => certificateGroups(input.role, input.groups ?? [], 'groups').slice(1));
  if (input.endpoints !== undefined && input.role !== 'lighthouse') {
    throw validationProblem([{ field: 'endpoints', message: 'only lighthouses have public endpoints' }]);
  }
  if (input.owner !== undefined && input.role !== 'environment') {
    throw validationProblem([{ field: 'owner', message: 'only environments have an owner' }]);
  }
  const endpoints = input.endpoints?.map((e, i) => meshField(() => formatEndpoint(parseEndpoint(e, `endpoints[${i}]`))));
  if (endpoints) meshField(() => endpointsPort(endpoints));
  const view = await ctx.views.current();
  if (input.ip !== undefined) {
    const ip = input.ip;
    const index = meshField(() => view.cidr.indexOf(ip, 'ip'));
    if (index === undefined) {
      throw validationProblem([{ field: 'ip', message: `${ip} is not a host address of ${view.cidr} (outside it, or its network or broadcast address)` }]);
    }
  }
  const token = newSecret(ENROLLMENT_TOKEN_PREFIX);
  const now = ctx.clock();
  const expiresAt = new Date(now.getTime() + ctx.settings.enrollmentTokenTtlSeconds * 1000);
  let host: HostRecord;
  try {
    ({ host } = await ctx.store.createHost({
      host: { id: newHostId(), name: input.name, role: input.role, groups, endpoints, owner: input.owner },
      cidr: view.cidr,
      requestedIp: input.ip,
      token: { hash: hashSecret(token), expiresAt },
      now,
    }));
  } catch (err) {
    if (err instanceof AddressTakenError) throw conflict('address-taken', err.message, 'ip');
    if (err instanceof HostNameTakenError) throw conflict('name-taken', err.message, 'name');
    if (err instanceof NetworkFullError) throw conflict('network-full', err.message);
    throw err;
  }
  if (endpoints && endpoints.length > 0) {
    ctx.views.invalidate();
    ctx.feed.notifyNetwork();
  }
  ctx.logger?.info('host created', { hostId: host.id, role: host.role, ip: host.ip });
  return jsonResponse(201, { host: publicHost(host), enrollment: { token, expiresAt: expiresAt.toISOString() } }, {
    location: `/v1/hosts/${host.id}`,
  });
}

/** `GET /v1/hosts?role=&cursor=&limit=`: one page from the gsi1 index. */
export async function listHosts(ctx: ApiContext, request: ApiRequest): Promise<ApiResponse> {
  requireAdmin(ctx, request);
  const query = parseQuery(request.query, listHostsQuery);
  try {
    const page = await ctx.store.listHosts({ role: query.role, cursor: query.cursor, limit: query.limit ?? 100 });
    return jsonResponse(200, { hosts: page.hosts.map(publicHost), ...(page.nextCursor ? { nextCursor: page.nextCursor } : {}) });
  } catch (err) {
    if (err instanceof InvalidCursorError) throw validationProblem([{ field: 'cursor', message: err.message }]);
    throw err;
  }
}

export async function getHost(ctx: ApiContext, request: ApiRequest, hostId: string): Promise<ApiResponse> {
  requireAdmin(ctx, request);
  const host = await ctx.store.getHost(hostId);
  if (!host) throw notFound(`no host ${hostId}`);
  return jsonResponse(200, { host: publicHost(host) });
}

/**
 * `DELETE /v1/hosts/{id}`: revoke. Every unexpired certificate of the host goes on the blocklist
 * until it expires, its address is quarantined, and every other host's config changes.
 */
export async function revokeHost(ctx: ApiContext, request: ApiRequest, hostId: string): Promise<ApiResponse> {
  requireAdmin(ctx, request);
  const host = await revokeHostById(ctx, hostId);
  if (!host) throw notFound(`no host ${hostId}`);
  ctx.views.invalidate();
  ctx.feed.notifyNetwork();
  if (host.role === 'environment') {
    // Its routes left the table in the revocation's transaction: proxies here hear of it now.
    ctx.routes.invalidate();
    ctx.routesFeed.notifyNetwork();
  }
  return jsonResponse(200, { host: publicHost(host) });
}

/** Read-modify-write rounds before an owner change gives up to concurrent changes (409). */
const MAX_UPDATE_ATTEMPTS = 5;

/**
 * `PATCH /v1/hosts/{id} {owner}`: sets an environment's owner, which the proxies' `private` and
 * `organization` access compare with. Conditional on the host's routing revision (shared with its
 * ports), retried on a concurrent change; setting the owner it already has writes nothing.
 */
export async function updateHost(ctx: ApiContext, request: ApiRequest, hostId: string): Promise<ApiResponse> {
  requireAdmin(ctx, request);
  const input = parseJsonBody(request.body, updateHostBody);
  for (let attempt = 0; attempt < MAX_UPDATE_ATTEMPTS; attempt++) {
    const host = await ctx.store.getHost(hostId);
    if (!host) throw notFound(`no host ${hostId}`);
    if (host.status === 'revoked') throw new ApiProblem(409, 'host-revoked', 'Conflict', `host ${hostId} is revoked`);
    if (host.role !== 'environment') throw validationProblem([{ field: 'owner', message: `only environments have an owner; host ${hostId} is a ${host.role}` }]);
    if (host.owner?.subject === input.owner.subject && host.owner.organization === input.owner.organization) {
      return jsonResponse(200, { host: publicHost(host) });
    }
    let updated: HostRecord;
    try {
      updated = await ctx.store.setOwner(host, input.owner);
    } catch (err) {
      if (err instanceof StateConflictError) continue;
      throw err;
    }
    ctx.routes.invalidate();
    ctx.routesFeed.notifyNetwork();
    ctx.logger?.info('host owner set', { hostId, subject: input.owner.subject, organization: input.owner.organization });
    return jsonResponse(200, { host: publicHost(updated) });
  }
  throw conflict('concurrent-change', `host ${hostId} kept changing concurrently; try again`);
}
