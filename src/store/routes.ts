import type { PortRoute, RouteEntry } from '../mesh/routes';
import { StateConflictError } from './errors';
import { keys, ROUTES_PK } from './keys';
import type { HostRecord } from './records';
import type { TableAccess, TransactItem } from './table-access';
import { cancellationOf } from './transactions';

/**
 * Replaces a host's ports in one transaction: the host's `ports` (conditional on the revision
 * the caller read and on the host not being revoked), its route item in the `ROUTES` partition
 * (deleted when no port is left) and the route table version. A concurrent change of the same
 * host's ports, or its revocation, fails the condition: StateConflictError, nothing written.
 */
export async function replacePorts(table: TableAccess, host: HostRecord, ports: readonly PortRoute[]): Promise<HostRecord> {
  const sorted = [...ports].sort((a, b) => a.port - b.port).map((p) => ({ port: p.port, access: p.access, protocol: p.protocol }));
  const revision = (host.portsRevision ?? 0) + 1;
  const items: TransactItem[] = [
    {
      Update: {
        TableName: table.tableName,
        Key: keys.host(host.id),
        UpdateExpression: 'SET ports = :ports, portsRevision = :next',
        ConditionExpression:
          host.portsRevision === undefined
            ? 'attribute_exists(pk) AND #status <> :revoked AND attribute_not_exists(portsRevision)'
            : 'attribute_exists(pk) AND #status <> :revoked AND portsRevision = :previous',
        ExpressionAttributeNames: { '#status': 'status' },
        ExpressionAttributeValues: {
          ':ports': sorted,
          ':next': revision,
          ':revoked': 'revoked',
          ...(host.portsRevision === undefined ? {} : { ':previous': host.portsRevision }),
        },
      },
    },
    sorted.length > 0
      ? table.put(routeItem({ hostId: host.id, ip: host.ip, owner: ownerOf(host), ports: sorted }))
      : { Delete: { TableName: table.tableName, Key: keys.route(host.id) } },
    table.bumpVersion(keys.routesVersion()),
  ];
  try {
    await table.transact(items);
  } catch (err) {
    if (cancellationOf(err)) throw new StateConflictError(`host ${host.id} was revoked or its ports changed meanwhile`);
    throw err;
  }
  return { ...host, ports: sorted, portsRevision: revision };
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

function ownerOf(host: HostRecord) {
  if (!host.owner) throw new StateConflictError(`host ${host.id} has no owner; a published port needs one`);
  return { subject: host.owner.subject, organization: host.owner.organization };
}
