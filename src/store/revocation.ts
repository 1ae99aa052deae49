import { egressMembershipDelete, egressNodeDelete } from './egress-policies';
import { StateConflictError } from './errors';
import { hostSeenRevocation } from './host-seen';
import { CERT_PREFIX, iso, keys, POOL_PK, QUARANTINE_PK, REVOKED_PK, ttlOf } from './keys';
import type { HostRecord } from './records';
import { transactRouteChange } from './routes';
import type { TableAccess, TransactItem } from './table-access';
import { cancellationOf, failedCondition } from './transactions';

/**
 * TransactWriteItems takes up to 100 items; a revocation needs at most 13 besides the certificates
 * (an environment's: host, its sighting, lease, quarantine, config version, token, instance, name,
 * route, egress member, egress version, and the route change's two).
 */
const MAX_REVOCATIONS_IN_TRANSACTION = 87;

/**
 * Revokes a host: every unexpired certificate it was issued is blocklisted until it expires,
 * its address is quarantined at least until then, its token and credential die, its published
 * ports leave the route table, its name is free again (its public keys are not: see
 * items.ts publicKeyClaim), and the network's config version moves so every other host's config
 * changes. Idempotent: revoking a revoked host returns it unchanged.
 */
export async function revokeHost(
  table: TableAccess,
  host: HostRecord,
  input: { now: Date; minQuarantineMs?: number },
): Promise<'revoked' | 'already-revoked'> {
  const { now } = input;
  // Stryker disable next-line ConditionalExpression,StringLiteral: the transaction's status condition answers already-revoked too; this check only spares the queries
  if (host.status === 'revoked') return 'already-revoked';
  const certificates = await table.queryAll({
    KeyConditionExpression: 'pk = :pk AND sk BETWEEN :from AND :to',
    ExpressionAttributeValues: { ':pk': keys.host(host.id).pk, ':from': `${CERT_PREFIX}${iso(now)}`, ':to': `${CERT_PREFIX}~` },
  });
  const availableAt = new Date(Math.max(now.getTime() + (input.minQuarantineMs ?? 0), ...certificates.map((c) => Date.parse(c.notAfter as string))));
  const revocations = certificates.map((c) => {
    const notAfter = new Date(c.notAfter as string);
    return { ...keys.revocation(notAfter, c.fingerprint as string), fingerprint: c.fingerprint, hostId: host.id, expiresAt: iso(notAfter), ttl: ttlOf(notAfter) };
  });
  // Rare: more certificates than one transaction holds. Blocklisting those early is the safe side.
  await table.batchPut(revocations.slice(MAX_REVOCATIONS_IN_TRANSACTION));
  const quarantine = { pk: QUARANTINE_PK, sk: `${iso(availableAt)}#${host.ip}` };
  const items: TransactItem[] = [
    {
      Update: {
        TableName: table.tableName,
        Key: keys.host(host.id),
        UpdateExpression: 'SET #status = :revoked, revokedAt = :now REMOVE credentialHash, tokenHash',
        ConditionExpression: '#status <> :revoked',
        ExpressionAttributeNames: { '#status': 'status' },
        ExpressionAttributeValues: { ':revoked': 'revoked', ':now': iso(now) },
      },
    },
    {
      Update: {
        TableName: table.tableName,
        Key: keys.lease(host.ip),
        UpdateExpression: 'SET #state = :quarantined, availableAt = :at, queuePk = :qpk, queueSk = :qsk REMOVE hostId',
        ConditionExpression: 'hostId = :host',
        ExpressionAttributeNames: { '#state': 'state' },
        ExpressionAttributeValues: { ':quarantined': 'quarantined', ':at': iso(availableAt), ':qpk': quarantine.pk, ':qsk': quarantine.sk, ':host': host.id },
      },
    },
    table.put({ ...quarantine, ip: host.ip, availableAt: iso(availableAt) }),
    ...revocations.slice(0, MAX_REVOCATIONS_IN_TRANSACTION).map((r) => table.put(r)),
    table.bumpVersion(keys.version()),
    // Later sightings are refused: an agent call that read the host before this cannot record one after.
    hostSeenRevocation(table, host.id, now),
  ];
  // Stryker disable next-line ConditionalExpression: deleting an item that does not exist changes nothing
  if (host.tokenHash) items.push({ Delete: { TableName: table.tableName, Key: keys.token(host.tokenHash) } });
  // Stryker disable next-line ConditionalExpression: deleting an item that does not exist changes nothing
  if (host.role === 'lighthouse') items.push({ Delete: { TableName: table.tableName, Key: keys.lighthouse(host.id) } });
  // Stryker disable next-line ConditionalExpression: deleting an item that does not exist changes nothing
  if (host.role === 'egress') items.push(egressNodeDelete(table, host.id));
  // Stryker disable next-line ConditionalExpression: deleting an item that does not exist changes nothing
  if (host.instanceId) items.push({ Delete: { TableName: table.tableName, Key: keys.instance(host.instanceId) } });
  // The name is free again; only this host's claim (hosts stored before names were claimed have none).
  const nameClaim = await table.get(keys.hostName(host.name));
  if (nameClaim?.hostId === host.id) {
    items.push({
      Delete: { TableName: table.tableName, Key: keys.hostName(host.name), ConditionExpression: 'hostId = :host', ExpressionAttributeValues: { ':host': host.id } },
    });
  }
  // Unconditional: a port published (or an owner set) after the host was read still leaves with it.
  if (host.role === 'environment') items.push({ Delete: { TableName: table.tableName, Key: keys.route(host.id) } }, ...egressMembershipDelete(table, host.id));
  try {
    if (host.role === 'environment') await transactRouteChange(table, items, { hostId: host.id });
    else await table.transact(items);
    return 'revoked';
  } catch (err) {
    const c = cancellationOf(err);
    if (c && failedCondition(c, 0)) return 'already-revoked';
    if (c) throw new StateConflictError(`host ${host.id} changed while it was being revoked; try again`);
    throw err;
  }
}

/**
 * Periodic housekeeping: removes revocations whose certificate has expired (TTL would, in time;
 * DynamoDB Local never does) and moves addresses whose quarantine ended into the pool.
 */
export async function sweep(table: TableAccess, now: Date): Promise<{ expiredRevocations: number; releasedAddresses: number }> {
  const expired = await table.queryAll({
    KeyConditionExpression: 'pk = :pk AND sk <= :now',
    ExpressionAttributeValues: { ':pk': REVOKED_PK, ':now': iso(now) },
    ProjectionExpression: 'pk, sk',
  });
  await table.batchDelete(expired.map((i) => ({ pk: i.pk as string, sk: i.sk as string })));
  let released = 0;
  for (;;) {
    const { moved: n } = await releaseEndedQuarantines(table, now, 25);
    released += n;
    if (n === 0) break;
  }
  return { expiredRevocations: expired.length, releasedAddresses: released };
}

/**
 * Moves up to `limit` addresses whose quarantine has ended into the pool: how many ended ones it
 * found, and how many of those it moved (others may have moved or claimed the rest first).
 */
export async function releaseEndedQuarantines(table: TableAccess, now: Date, limit: number): Promise<{ found: number; moved: number }> {
  const ended = await table.queryPage({
    KeyConditionExpression: 'pk = :pk AND sk <= :upper',
    ExpressionAttributeValues: { ':pk': QUARANTINE_PK, ':upper': `${iso(now)}#~` },
    Limit: limit,
  });
  let moved = 0;
  for (const q of ended) {
    const ip = q.ip as string;
    const queued = { pk: q.pk as string, sk: q.sk as string };
    const pool = { pk: POOL_PK, sk: queued.sk };
    try {
      await table.transact([
        { Delete: { TableName: table.tableName, Key: queued, ConditionExpression: 'attribute_exists(pk)' } },
        table.put({ ...pool, ip, availableAt: q.availableAt }),
        {
          Update: {
            TableName: table.tableName,
            Key: keys.lease(ip),
            UpdateExpression: 'SET #state = :free, queuePk = :ppk, queueSk = :psk',
            ConditionExpression: '#state = :quarantined AND queuePk = :qpk AND queueSk = :qsk',
            ExpressionAttributeNames: { '#state': 'state' },
            ExpressionAttributeValues: { ':free': 'free', ':quarantined': 'quarantined', ':ppk': pool.pk, ':psk': pool.sk, ':qpk': queued.pk, ':qsk': queued.sk },
          },
        },
      ]);
      moved++;
    } catch (err) {
      const c = cancellationOf(err);
      if (!c) throw err;
      // The address was claimed directly meanwhile (its lease points elsewhere): the entry is stale.
      // Stryker disable next-line ConditionalExpression: the other cancellation is the queue entry being gone already, where deleting it changes nothing
      if (failedCondition(c, 2)) await table.batchDelete([queued]);
    }
  }
  return { found: ended.length, moved };
}
