import type { PortRoute } from '../../mesh/routes';
import { type HostRecord, StateConflictError } from '../../store';
import { requireAdmin } from '../auth';
import type { ApiContext } from '../context';
import type { ApiRequest, ApiResponse } from '../http';
import { ApiProblem, conflict, jsonResponse, notFound } from '../problem';
import { parseJsonBody, parsePathParam, portBody, portParam } from '../validation';

/** A host item stays small, and a proxy's per-host lookup stays a short list. */
export const MAX_PORTS_PER_HOST = 64;

/** Read-modify-write rounds before a port change gives up to a concurrent one (409). */
const MAX_ATTEMPTS = 5;

/**
 * `PUT /v1/hosts/{id}/ports/{port} {access, protocol?}`: publishes (or changes) a port of an
 * environment on the proxies. Setting what is already set writes nothing.
 */
export async function putPort(ctx: ApiContext, request: ApiRequest, hostId: string, portText: string): Promise<ApiResponse> {
  requireAdmin(ctx, request);
  const port = parsePathParam(portText, portParam, 'port');
  const input = parseJsonBody(request.body, portBody);
  const wanted: PortRoute = { port, access: input.access, protocol: input.protocol ?? 'http' };
  await changePorts(ctx, hostId, (host) => {
    const current = host.ports ?? [];
    const existing = current.find((p) => p.port === port);
    if (existing && existing.access === wanted.access && existing.protocol === wanted.protocol) return undefined;
    if (!existing && current.length >= MAX_PORTS_PER_HOST) {
      throw conflict('too-many-ports', `host ${hostId} already publishes ${MAX_PORTS_PER_HOST} ports, the most a host may`, 'port');
    }
    return [...current.filter((p) => p.port !== port), wanted];
  });
  ctx.logger?.info('port published', { hostId, port, access: wanted.access, protocol: wanted.protocol });
  return jsonResponse(200, wanted);
}

/** `DELETE /v1/hosts/{id}/ports/{port}`: the port leaves the proxies' route table. */
export async function deletePort(ctx: ApiContext, request: ApiRequest, hostId: string, portText: string): Promise<ApiResponse> {
  requireAdmin(ctx, request);
  const port = parsePathParam(portText, portParam, 'port');
  await changePorts(ctx, hostId, (host) => {
    const current = host.ports ?? [];
    if (!current.some((p) => p.port === port)) throw notFound(`host ${hostId} does not publish port ${port}`);
    return current.filter((p) => p.port !== port);
  });
  ctx.logger?.info('port withdrawn', { hostId, port });
  return { status: 204, headers: { 'cache-control': 'no-store' }, body: '' };
}

/**
 * Reads the host, lets `change` compute its new ports (undefined: nothing to do) and writes them
 * conditionally on the ports read; a concurrent change makes it read again.
 */
async function changePorts(ctx: ApiContext, hostId: string, change: (host: HostRecord) => PortRoute[] | undefined): Promise<void> {
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    const host = await ctx.store.getHost(hostId);
    if (!host) throw notFound(`no host ${hostId}`);
    checkPublishable(host);
    const ports = change(host);
    if (ports === undefined) return;
    try {
      await ctx.store.replacePorts(host, ports);
    } catch (err) {
      if (err instanceof StateConflictError) continue;
      throw err;
    }
    ctx.routes.invalidate();
    ctx.routesFeed.notifyNetwork();
    return;
  }
  throw conflict('concurrent-change', `the ports of host ${hostId} kept changing concurrently; try again`);
}

function checkPublishable(host: HostRecord): void {
  if (host.status === 'revoked') throw new ApiProblem(409, 'host-revoked', 'Conflict', `host ${host.id} is revoked`);
  if (host.role !== 'environment') {
    throw new ApiProblem(409, 'not-an-environment', 'Conflict', `host ${host.id} is a ${host.role}; only environments publish ports`);
  }
  if (!host.owner) {
    throw new ApiProblem(409, 'no-owner', 'Conflict', `host ${host.id} has no owner, which the proxies' access checks need; create it with an owner`);
  }
}
