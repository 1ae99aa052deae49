import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { Ipv4Cidr, Role } from '../mesh';
import type { Principal } from '../mesh/routes';
import { egressMembershipPut } from './egress-policies';
import { AddressTakenError, HostNameTakenError, NetworkFullError, StateConflictError } from './errors';
import { CLAIMABLE_LEASE, claimableLeaseValues, hostItem, leaseClaimable, leaseItem } from './items';
import { iso, type ItemKey, keys, POOL_PK, ttlOf } from './keys';
import type { HostRecord } from './records';
import { releaseEndedQuarantines } from './revocation';
import type { TableAccess, TransactItem } from './table-access';
import { cancellationOf, failedCondition } from './transactions';

/** A host to create: everything but its address, which the store allocates. */
export interface NewHost {
  readonly id: string;
  readonly name: string;
  readonly role: Role;
  readonly groups: readonly string[];
  readonly endpoints?: readonly string[];
  readonly instanceId?: string;
  readonly owner?: Principal;
}

export interface CreateHostInput {
  readonly host: NewHost;
  readonly cidr: Ipv4Cidr;
  /** Claim exactly this address instead of allocating one. */
  readonly requestedIp?: string;
  readonly token: { readonly hash: string; readonly expiresAt: Date };
  readonly now: Date;
}

export interface CreatedHost {
  readonly host: HostRecord;
  /** Addresses tried before one was claimed (1 when the first was free). */
  readonly attempts: number;
}

const POOL_PICK_AMONG = 8;

/**
 * Creates a host with its address lease and its enrollment token in one transaction. The
 * address is the requested one; else the next never-used one from an atomic counter (a number
 * whose address an explicit request already took is skipped); else, once the counter has run
 * out, a released address from the pool. No step reads more than a few items, whatever the
 * number of hosts.
 */
export async function createHost(table: TableAccess, input: CreateHostInput): Promise<CreatedHost> {
  // Checked first so that a refused name takes no address number; the transaction decides races.
  if (await table.get(keys.hostName(input.host.name))) throw new HostNameTakenError(input.host.name);
  if (input.requestedIp !== undefined) return createWithAddress(table, input, input.requestedIp);
  let attempts = 0;
  for (;;) {
    const index = await nextCounterIndex(table);
    if (index >= input.cidr.usableCount) break;
    attempts++;
    const ip = input.cidr.addressAt(index);
    let host: HostRecord | undefined;
    try {
      host = await tryCreate(table, input, ip);
    } catch (err) {
      // Lost a race for the name: the never-used address this request numbered goes to the pool, not to waste.
      if (err instanceof HostNameTakenError) await releaseUnused(table, ip, input.now);
      throw err;
    }
    if (host) return { host, attempts };
  }
  return createFromPool(table, input, attempts);
}

/** Puts a never-leased address in the pool (free now), unless it was leased directly meanwhile. */
async function releaseUnused(table: TableAccess, ip: string, now: Date): Promise<void> {
  const pool = { pk: POOL_PK, sk: `${iso(now)}#${ip}` };
  try {
    await table.transact([
      table.put({ ...keys.lease(ip), ip, state: 'free', queuePk: pool.pk, queueSk: pool.sk }, 'attribute_not_exists(pk)'),
      table.put({ ...pool, ip, availableAt: iso(now) }),
    ]);
  } catch (err) {
    if (!cancellationOf(err)) throw err;
  }
}

async function createWithAddress(table: TableAccess, input: CreateHostInput, ip: string): Promise<CreatedHost> {
  const lease = await table.get(keys.lease(ip));
  // Stryker disable next-line ConditionalExpression: the transaction's lease condition refuses the same addresses (AddressTakenError below); this read only spares a transaction bound to fail
  if (lease && !leaseClaimable(lease, input.now)) throw new AddressTakenError(ip);
  // A quarantined or pooled address leaves its queue in the same transaction.
  const queued = lease?.queuePk ? { key: { pk: lease.queuePk as string, sk: lease.queueSk as string }, mustExist: false } : undefined;
  const host = await tryCreate(table, input, ip, queued);
  if (!host) throw new AddressTakenError(ip);
  return { host, attempts: 1 };
}

/**
 * Claims a released address: one of the oldest few in the pool, at random so that concurrent
 * creators spread out. A claim lost to another creator goes on to the next candidate, then to the
 * next page of the pool, for as long as addresses are left; an empty pool first releases ended
 * quarantines. Each step is a Query of at most `POOL_PICK_AMONG` items, never a scan.
 */
async function createFromPool(table: TableAccess, input: CreateHostInput, previousAttempts: number): Promise<CreatedHost> {
  let attempts = previousAttempts;
  // Guards, not expected counts: each lost claim is an address another creator took, each
  // fruitless release ended quarantines another creator released or claimed first. More of
  // either than the network has addresses means revocations refill the pool as fast as others
  // empty it: this creator gives up rather than loop.
  let lost = 0;
  let fruitlessReleases = 0;
  /** The pool was empty and then no ended quarantine was found. */
  let nothingEnded = false;
  while (lost < input.cidr.usableCount) {
    const candidates = await table.queryPage({
      KeyConditionExpression: 'pk = :pk AND sk <= :upper',
      ExpressionAttributeValues: { ':pk': POOL_PK, ':upper': `${iso(input.now)}#~` },
      Limit: POOL_PICK_AMONG,
    });
    if (candidates.length === 0) {
      // Full once the pool is empty after a look found no ended quarantine: between the two
      // looks another creator may have pooled ended ones, so the pool is asked again first.
      if (nothingEnded) break;
      // The sweep may not have run since a quarantine ended: release those now.
      const release = await releaseEndedQuarantines(table, input.now, POOL_PICK_AMONG);
      nothingEnded = release.found === 0;
      // Stryker disable next-line ConditionalExpression,EqualityOperator: the bound only matters while others keep releasing what this creator found, which no test can hold on demand
      if (release.found > 0 && release.moved === 0 && ++fruitlessReleases >= input.cidr.usableCount) break;
      continue;
    }
    nothingEnded = false;
    // Stryker disable next-line ArithmeticOperator: every starting point is valid; the random one only spreads concurrent creators
    const first = Math.floor(Math.random() * candidates.length);
    for (let i = 0; i < candidates.length; i++) {
      const pick = candidates[(first + i) % candidates.length];
      attempts++;
      const host = await tryCreate(table, input, pick.ip as string, { key: { pk: pick.pk as string, sk: pick.sk as string }, mustExist: true });
      if (host) return { host, attempts };
      lost++;
    }
  }
  throw new NetworkFullError(input.cidr.toString());
}

/**
 * One transaction: host, lease, token, name claim (+ lighthouse, instance, queue removal).
 * Undefined when the address turned out to be taken.
 */
async function tryCreate(
  table: TableAccess,
  input: CreateHostInput,
  ip: string,
  queued?: { key: ItemKey; mustExist: boolean },
): Promise<HostRecord | undefined> {
  const { host: h, now, token } = input;
  const host: HostRecord = {
    id: h.id,
    name: h.name,
    role: h.role,
    ip,
    groups: [...h.groups],
    status: 'pending',
    createdAt: iso(now),
    ...(h.endpoints ? { endpoints: [...h.endpoints] } : {}),
    tokenHash: token.hash,
    ...(h.instanceId ? { instanceId: h.instanceId } : {}),
    ...(h.owner ? { owner: { subject: h.owner.subject, organization: h.owner.organization } } : {}),
  };
  const items: TransactItem[] = [
    table.put(hostItem(host), 'attribute_not_exists(pk)'),
    {
      Put: {
        TableName: table.tableName,
        Item: leaseItem(ip, h.id, now),
        ConditionExpression: CLAIMABLE_LEASE,
        ExpressionAttributeNames: { '#state': 'state' },
        ExpressionAttributeValues: claimableLeaseValues(now),
      },
    },
    table.put({ ...keys.token(token.hash), hostId: h.id, expiresAt: iso(token.expiresAt), ttl: ttlOf(token.expiresAt) }, 'attribute_not_exists(pk)'),
    // The name's claim: released by the host's revocation (revocation.ts).
    table.put({ ...keys.hostName(h.name), hostId: h.id, name: h.name }, 'attribute_not_exists(pk)'),
  ];
  const queueIndex = items.length;
  if (queued) {
    // Stryker disable next-line ObjectLiteral: the lease's own condition (item 1) already refuses a pool entry someone else claimed
    items.push({ Delete: { TableName: table.tableName, Key: queued.key, ...(queued.mustExist ? { ConditionExpression: 'attribute_exists(pk)' } : {}) } });
  }
  if (h.role === 'lighthouse' && h.endpoints && h.endpoints.length > 0) {
    items.push(table.put({ ...keys.lighthouse(h.id), hostId: h.id, ip, endpoints: [...h.endpoints] }));
    items.push(table.bumpVersion(keys.version()));
  }
  const instanceIndex = items.length;
  if (h.instanceId) items.push(table.put({ ...keys.instance(h.instanceId), hostId: h.id, instanceId: h.instanceId }, 'attribute_not_exists(pk)'));
  // An owned environment is an egress member from its creation (egress-policies.ts).
  if (h.role === 'environment' && h.owner) items.push(...egressMembershipPut(table, host, h.owner.organization));
  try {
    await table.transact(items);
    return host;
  } catch (err) {
    const c = cancellationOf(err);
    if (!c) throw err;
    if (failedCondition(c, 0)) throw new StateConflictError(`host id ${h.id} already exists`);
    if (failedCondition(c, 2)) throw new StateConflictError('enrollment token collision');
    // Stryker disable next-line LogicalOperator: without an instance there is no item at instanceIndex to fail
    if (h.instanceId && failedCondition(c, instanceIndex)) throw new StateConflictError(`instance ${h.instanceId} is already registered`);
    if (failedCondition(c, 3)) throw new HostNameTakenError(h.name);
    // Stryker disable next-line ConditionalExpression: the only other condition, the queue entry's, is answered the same way below
    if (failedCondition(c, 1)) {
      // Taken meanwhile; a pool entry pointing at a held lease is stale, drop it.
      if (queued?.mustExist) await table.batchDelete([queued.key]);
      return undefined;
    }
    if (queued && failedCondition(c, queueIndex)) return undefined;
    throw err;
  }
}

/** The next never-used host number: one atomic UpdateItem ADD, whatever the number of hosts. */
async function nextCounterIndex(table: TableAccess): Promise<number> {
  const result = await table.doc.send(
    new UpdateCommand({
      TableName: table.tableName,
      Key: keys.ipCounter(),
      UpdateExpression: 'ADD #next :one',
      ExpressionAttributeNames: { '#next': 'next' },
      ExpressionAttributeValues: { ':one': 1 },
      ReturnValues: 'UPDATED_NEW',
    }),
  );
  return (result.Attributes?.next as number) - 1;
}
