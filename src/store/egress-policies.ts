import type { EgressRule } from '../mesh/egress-policy';
import { StateConflictError } from './errors';
import { EGRESS_MEMBERS_PK, EGRESS_NODE_PREFIX, EGRESS_POLICIES_PK, iso, keys, NETWORK_PK } from './keys';
import type { EgressMemberRecord, EgressNodeRecord, EgressPolicyRecord } from './records';
import type { Item, TableAccess, TransactItem } from './table-access';
import { cancellationOf, failedCondition, pause } from './transactions';

/**
 * Egress state: each organisation's policy (one item each, all in the `EGRESSPOLICIES`
 * partition, so the egress nodes' rule feed reads them with one Query), the environments the
 * feed admits (`EGRESSMEMBERS`, one item per environment not revoked with an owner), the active
 * egress nodes (`NETWORK` / `EGRESS#<hostId>`, beside the lighthouses: read with them when the
 * config version moves), and the network's egress routes (on the network item; changing them
 * moves the config version, so every environment's config and every egress node's certificate
 * follow).
 *
 * The egress version (`EGRESSVERSION`) moves in the same transaction as every write that changes
 * the feed: a policy, the egress routes, an environment created with an owner, an owner change,
 * an environment's revocation. The feed is rebuilt only when it moved, so an unchanged poll costs
 * one GetItem; a write that changed the feed without moving it would leave a stale policy on the
 * egress nodes, which is why the bump is never a separate write.
 */

function toPolicy(item: Item): EgressPolicyRecord {
  // Rebuilt in a fixed key order: DynamoDB keeps no order of a map's attributes, and the rule feed hashes these.
  const rules = (item.rules as EgressRule[]).map((r) => ({ cidr: r.cidr, proto: r.proto, ports: r.ports }));
  return { organization: item.organization as string, rules, revision: item.revision as number, updatedAt: item.updatedAt as string };
}

/** The stored policy of `organization`, or undefined when never set. */
export async function getEgressPolicy(table: TableAccess, organization: string): Promise<EgressPolicyRecord | undefined> {
  const item = await table.get(keys.egressPolicy(organization));
  return item ? toPolicy(item) : undefined;
}

/** Every stored policy, by organisation: one strongly consistent Query. */
export async function listEgressPolicies(table: TableAccess): Promise<EgressPolicyRecord[]> {
  const items = await table.queryAll({ KeyConditionExpression: 'pk = :pk', ExpressionAttributeValues: { ':pk': EGRESS_POLICIES_PK } });
  return items.map(toPolicy);
}

/** Rounds of reading the revision again when a PUT without `expectedRevision` lost to a concurrent one. */
const MAX_POLICY_ROUNDS = 16;

/**
 * Replaces `organization`'s rules; the revision moves by one, and the egress version with it (one
 * transaction). With `expectedRevision` the write happens only if the stored revision is that one
 * (0: never set), else StateConflictError; without, from the revision just read, read again while
 * concurrent writes move it.
 */
export async function putEgressPolicy(
  table: TableAccess,
  input: { organization: string; rules: readonly EgressRule[]; now: Date; expectedRevision?: number },
): Promise<EgressPolicyRecord> {
  const rules = input.rules.map((r) => ({ cidr: r.cidr, proto: r.proto, ports: r.ports }));
  for (let round = 1; ; round++) {
    const from = input.expectedRevision ?? (await getEgressPolicy(table, input.organization))?.revision ?? 0;
    const record = { organization: input.organization, rules, revision: from + 1, updatedAt: iso(input.now) };
    try {
      await table.transact([
        {
          Put: {
            TableName: table.tableName,
            Item: { ...keys.egressPolicy(input.organization), ...record },
            ...(from === 0 ? { ConditionExpression: 'attribute_not_exists(pk)' } : { ConditionExpression: 'revision = :from', ExpressionAttributeValues: { ':from': from } }),
          },
        },
        egressVersionBump(table),
      ]);
      return record;
    } catch (err) {
      const c = cancellationOf(err);
      if (!c || !failedCondition(c, 0)) throw err;
      if (input.expectedRevision !== undefined || round >= MAX_POLICY_ROUNDS) {
        throw new StateConflictError(`the egress policy of ${input.organization} is no longer at revision ${from}`);
      }
      await pause(Math.random() * 10 * round);
    }
  }
}

/** The active egress nodes (any order): one Query of the network partition. */
export async function listEgressNodes(table: TableAccess): Promise<EgressNodeRecord[]> {
  const items = await table.queryAll({
    KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
    ExpressionAttributeValues: { ':pk': NETWORK_PK, ':prefix': EGRESS_NODE_PREFIX },
  });
  return items.map((i) => ({ hostId: i.hostId as string, ip: i.ip as string }));
}

/** The Put that makes a host an active egress node, for the transaction that activates it (which also moves the config version). */
export function egressNodePut(table: TableAccess, node: EgressNodeRecord): TransactItem {
  return table.put({ ...keys.egressNode(node.hostId), hostId: node.hostId, ip: node.ip });
}

/** The Delete that ends a host's time as an egress node, for its revocation's transaction. */
export function egressNodeDelete(table: TableAccess, hostId: string): TransactItem {
  return { Delete: { TableName: table.tableName, Key: keys.egressNode(hostId) } };
}

/** Sets the network's egress routes (canonical CIDRs) and moves the config version, in one transaction. */
export async function setEgressRoutes(table: TableAccess, routes: readonly string[]): Promise<void> {
  await table.transact([
    {
      Update: {
        TableName: table.tableName,
        Key: keys.network(),
        UpdateExpression: 'SET egressRoutes = :routes',
        ConditionExpression: 'attribute_exists(pk)',
        ExpressionAttributeValues: { ':routes': [...routes] },
      },
    },
    table.bumpVersion(keys.version()),
    egressVersionBump(table),
  ]);
}

/** The egress version: 0 before the first write that changed the rule feed. */
export async function getEgressVersion(table: TableAccess): Promise<number> {
  return ((await table.get(keys.egressVersion()))?.version as number | undefined) ?? 0;
}

/** The Update that moves the egress version, for the transaction of a write that changes the rule feed. */
export function egressVersionBump(table: TableAccess): TransactItem {
  return table.bumpVersion(keys.egressVersion());
}

/** Every environment the feed admits (any order): one strongly consistent Query of `EGRESSMEMBERS`. */
export async function listEgressMembers(table: TableAccess): Promise<EgressMemberRecord[]> {
  const items = await table.queryAll({ KeyConditionExpression: 'pk = :pk', ExpressionAttributeValues: { ':pk': EGRESS_MEMBERS_PK } });
  return items.map((i) => ({ hostId: i.hostId as string, name: i.name as string, ip: i.ip as string, organization: i.organization as string }));
}

/** The member item of an environment with an owner in `organization`, as the store writes it (also for seeding). */
export function egressMemberItem(host: { readonly id: string; readonly name: string; readonly ip: string }, organization: string): Item {
  return { ...keys.egressMember(host.id), hostId: host.id, name: host.name, ip: host.ip, organization };
}

/**
 * What a transaction that gives an environment an owner (its creation, an owner change) adds: its
 * member item, replaced whole, and the egress version.
 */
export function egressMembershipPut(table: TableAccess, host: { readonly id: string; readonly name: string; readonly ip: string }, organization: string): TransactItem[] {
  return [table.put(egressMemberItem(host, organization)), egressVersionBump(table)];
}

/**
 * What an environment's revocation adds: its member item out (unconditionally: an owner set after
 * the host was read leaves with it) and the egress version.
 */
export function egressMembershipDelete(table: TableAccess, hostId: string): TransactItem[] {
  return [{ Delete: { TableName: table.tableName, Key: keys.egressMember(hostId) } }, egressVersionBump(table)];
}
