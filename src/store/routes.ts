import { randomBytes } from 'node:crypto';
import type { PortRoute, Principal, RouteEntry } from '../mesh/routes';
import { egressMembershipPut } from './egress-policies';
import { StateConflictError } from './errors';
import { keys, ROUTE_CHANGES_PK, routeChangeSk, ROUTES_PK, ttlOf } from './keys';
import type { HostRecord } from './records';
import type { TableAccess, TransactItem } from './table-access';
import { cancellationOf, failedCondition, pause } from './transactions';

/**
 * Where the route table stands: `seq` counts route changes (0: none ever), `epoch` is drawn at the
 * first change and names this table's sequence, so a version from another table (a local gateway
 * started afresh) is never taken for one of this table's.
 */
export interface RoutesHead {
  readonly seq: number;
  readonly epoch?: string;
}

/** One route change: the host's route after it, or none when the host left the table. */
export interface RouteChange {
  readonly seq: number;
  readonly hostId: string;
  readonly entry?: RouteEntry;
}

/**
 * How long change records are kept (TTL): a proxy that was away longer gets the whole table, as
 * does one whose records DynamoDB has already removed.
 */
export const ROUTE_CHANGE_RETENTION_MS = 24 * 3600_000;

/** Rounds of re-reading the sequence number when other route changes took the next one first. */
const MAX_SEQUENCE_ROUNDS = 32;

/**
 * Replaces a host's ports in one transaction: the host's `ports` (conditional on the revision
 * the caller read and on the host not being revoked), its route item in the `ROUTES` partition
 * (deleted when no port is left) and the route table version. A concurrent change of the same
 * host's ports or owner, or its revocation, fails the condition: StateConflictError, nothing written.
 */
export function replacePorts(table: TableAccess, host: HostRecord, ports: readonly PortRoute[]): Promise<HostRecord> {
  return replaceRouting(table, host, ports, host.owner, []);
}

/**
 * Sets a host's owner, the same way as its ports: conditional on the revision read, with its route
 * item (the proxies compare `private` and `organization` access with the owner) and the route
 * table version, so the proxies see the new owner with the next route table; and with its egress
 * member item and the egress version, so the egress nodes see the new organisation at their next poll.
 */
export function setOwner(table: TableAccess, host: HostRecord, owner: Principal): Promise<HostRecord> {
  return replaceRouting(table, host, host.ports ?? [], owner, egressMembershipPut(table, host, owner.organization));
}

/** `portsRevision` moves with every change of what the proxies route on: ports and owner. */
async function replaceRouting(
  table: TableAccess,
  host: HostRecord,
  ports: readonly PortRoute[],
  owner: Principal | undefined,
  alongside: readonly TransactItem[],
): Promise<HostRecord> {
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
  ];
  const entry = sorted.length > 0 ? { hostId: host.id, ip: host.ip, owner: requireOwner(host.id, plainOwner), ports: sorted } : undefined;
  items.push(entry ? table.put(routeItem(entry)) : { Delete: { TableName: table.tableName, Key: keys.route(host.id) } });
  items.push(...alongside);
  try {
    await transactRouteChange(table, items, { hostId: host.id, entry });
  } catch (err) {
    if (cancellationOf(err)) throw new StateConflictError(`host ${host.id} was revoked or its ports or owner changed meanwhile`);
    throw err;
  }
  return { ...host, ports: sorted, portsRevision: revision, ...(plainOwner ? { owner: plainOwner } : {}) };
}

/**
 * Commits `items` together with the next route change: the sequence number moves from the one
 * just read (a condition) and the change record of the new number is written, in one transaction.
 * Route changes thus get consecutive numbers, each with its record, in commit order. When another
 * change took the number first, the number is read again and the transaction retried; any other
 * cancellation is thrown, its codes indexed as in `items`.
 */
export async function transactRouteChange(table: TableAccess, items: TransactItem[], change: { hostId: string; entry?: RouteEntry }): Promise<void> {
  for (let round = 1; ; round++) {
    const head = await readRoutesHead(table);
    try {
      await table.transact([...items, ...routeChangeItems(table, head, change)]);
      return;
    } catch (err) {
      const c = cancellationOf(err);
      const lostTheNumber = c && failedCondition(c, items.length) && !c.codes.slice(0, items.length).includes('ConditionalCheckFailed');
      if (!lostTheNumber || round >= MAX_SEQUENCE_ROUNDS) throw err;
      await pause(Math.random() * 10 * Math.min(round, 5));
    }
  }
}

function routeChangeItems(table: TableAccess, head: RoutesHead, change: { hostId: string; entry?: RouteEntry }): TransactItem[] {
  const seq = head.seq + 1;
  const now = Date.now();
  return [
    {
      Update: {
        TableName: table.tableName,
        Key: keys.routesVersion(),
        UpdateExpression: 'SET #version = :next, epoch = if_not_exists(epoch, :epoch)',
        ConditionExpression: head.seq === 0 ? 'attribute_not_exists(#version)' : '#version = :previous',
        ExpressionAttributeNames: { '#version': 'version' },
        ExpressionAttributeValues: { ':next': seq, ':epoch': randomBytes(4).toString('hex'), ...(head.seq === 0 ? {} : { ':previous': head.seq }) },
      },
    },
    table.put({
      ...keys.routeChange(seq),
      seq,
      hostId: change.hostId,
      ...(change.entry ? { entry: routeFields(change.entry) } : {}),
      ttl: ttlOf(new Date(now + ROUTE_CHANGE_RETENTION_MS)),
    }),
  ];
}

export async function readRoutesHead(table: TableAccess): Promise<RoutesHead> {
  const item = await table.get(keys.routesVersion());
  const seq = (item?.version as number | undefined) ?? 0;
  return item?.epoch ? { seq, epoch: item.epoch as string } : { seq };
}

/**
 * The route changes after `afterSeq`, oldest first, at most `limit`: one Query of the
 * `ROUTECHANGES` partition. Records expire (TTL), so the caller checks that they follow on.
 */
export async function listRouteChanges(table: TableAccess, afterSeq: number, limit: number): Promise<RouteChange[]> {
  const items = await table.queryPage({
    KeyConditionExpression: 'pk = :pk AND sk > :after',
    ExpressionAttributeValues: { ':pk': ROUTE_CHANGES_PK, ':after': routeChangeSk(afterSeq) },
    Limit: limit,
  });
  return items.map((i) => {
    const seq = i.seq as number;
    const hostId = i.hostId as string;
    return i.entry ? { seq, hostId, entry: toRoute(i.entry as Record<string, unknown>) } : { seq, hostId };
  });
}

/** Every published route, sorted by host id: one key-condition Query of the `ROUTES` partition. */
export async function listRoutes(table: TableAccess): Promise<RouteEntry[]> {
  const items = await table.queryAll({ KeyConditionExpression: 'pk = :pk', ExpressionAttributeValues: { ':pk': ROUTES_PK } });
  return items.map(toRoute);
}

function toRoute(i: Record<string, unknown>): RouteEntry {
  return { hostId: i.hostId as string, ip: i.ip as string, owner: i.owner as RouteEntry['owner'], ports: i.ports as PortRoute[] };
}

const routeFields = (route: RouteEntry) => ({ hostId: route.hostId, ip: route.ip, owner: route.owner, ports: route.ports });

/** The route item exactly as the store writes it. */
export function routeItem(route: RouteEntry) {
  return { ...keys.route(route.hostId), ...routeFields(route) };
}

function requireOwner(hostId: string, owner: Principal | undefined): Principal {
  if (!owner) throw new StateConflictError(`host ${hostId} has no owner; a published port needs one`);
  return owner;
}
