import type { PortRoute, Principal, RouteEntry } from '../mesh/routes';
import { StateConflictError } from './errors';
import { keys, ROUTES_PK } from './keys';
import type { HostRecord } from './records';
import type { TableAccess, TransactItem } from './table-access';
import { cancellationOf } from './transactions';

/**
 * Replaces a host's ports in one transaction: the host's `ports` (conditional on the revision
 * the caller read and on the host not being revoked), its route item in the `ROUTES` partition
 * (deleted when no port is left) and the route table version. A concurrent change of the same
 * host's ports or owner, or its revocation, fails the condition: StateConflictError, nothing written.
 */
export function replacePorts(table: TableAccess, host: HostRecord, ports: readonly PortRoute[]): Promise<HostRecord> {
  return replaceRouting(table, host, ports, host.owner);
}

/**
 * Sets a host's owner, the same way as its ports: conditional on the revision read, with its route
 * item (the proxies compare `private` and `organization` access with the owner) and the route
 * table version, so the proxies see the new owner with the next route table.
 */
export function setOwner(table: TableAccess, host: HostRecord, owner: Principal): Promise<HostRecord> {
  return replaceRouting(table, host, host.ports ?? [], owner);
}

/** `portsRevision` moves with every change of what the proxies route on: ports and owner. */
async function replaceRouting(table: TableAccess, host: HostRecord, ports: readonly PortRoute[], owner: Principal | undefined): Promise<HostRecord> {
  const sorted = [...ports].sort((a, b) => a.port - b.port).map((p) => ({ port: p.port, access: p.access, protocol: p.protocol }));
  const revision = (host.portsRevision ?? 0) + 1;
  const plainOwner = owner ? { subject: owner.subject, organization: owner.organization } : undefined;
  const items: TransactItem[] = [
    {
      Update: {
        TableName: table.tableName,
        Key: keys.host(host.id),
        UpdateExpression: plainOwner ? 'SET ports = :ports, portsRevision = :next, #owner = :owner' : 'SET ports = :ports, portsRevision = :next',
        ConditionExpression:
          host.portsRevision === undefined
            ? 'attribute_exists(pk) AND #status <> :revoked AND attribute_not_exists(portsRevision)'
            : 'attribute_exists(pk) AND #status <> :revoked AND portsRevision = :previous',
        ExpressionAttributeNames: { '#status': 'status', ...(plainOwner ? { '#owner': 'owner' } : {}) },
        ExpressionAttributeValues: {
          ':ports': sorted,
          ':next': revision,
          ':revoked': 'revoked',
          ...(plainOwner ? { ':owner': plainOwner } : {}),
          ...(host.portsRevision === undefined ? {} : { ':previous': host.portsRevision }),
        },
      },
    },
    sorted.length > 0
      ? table.put(routeItem({ hostId: host.id, ip: host.ip, owner: requireOwner(host.id, plainOwner), ports: sorted }))
      : { Delete: { TableName: table.tableName, Key: keys.route(host.id) } },
    table.bumpVersion(keys.routesVersion()),
  ];
  try {
    await table.transact(items);
  } catch (err) {
    if (cancellationOf(err)) throw new StateConflictError(`host ${host.id} was revoked or its ports or owner changed meanwhile`);
    throw err;
  }
  return { ...host, ports: sorted, portsRevision: revision, ...(plainOwner ? { owner: plainOwner } : {}) };
}

/** Every published route, sorted by host id: one key-condition Query of the `ROUTES` partition. */
export async function listRoutes(table: TableAccess): Promise<RouteEntry[]> {
  const items = await table.queryAll({ KeyConditionExpression: 'pk = :pk', ExpressionAttributeValues: { ':pk': ROUTES_PK } });
  return items.map((i) => ({
    hostId: i.hostId as string,
    ip: i.ip as string,
    owner: i.owner as RouteEntry['owner'],
    ports: i.ports as PortRoute[],
  }));
}

/** The route item exactly as the store writes it. */
export function routeItem(route: RouteEntry) {
  return { ...keys.route(route.hostId), hostId: route.hostId, ip: route.ip, owner: route.owner, ports: route.ports };
}

function requireOwner(hostId: string, owner: Principal | undefined): Principal {
  if (!owner) throw new StateConflictError(`host ${hostId} has no owner; a published port needs one`);
  return owner;
}
