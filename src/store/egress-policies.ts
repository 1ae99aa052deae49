import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { EgressRule } from '../mesh/egress-policy';
import { StateConflictError } from './errors';
import { EGRESS_NODE_PREFIX, EGRESS_POLICIES_PK, iso, keys, NETWORK_PK } from './keys';
import type { EgressNodeRecord, EgressPolicyRecord } from './records';
import type { Item, TableAccess, TransactItem } from './table-access';
import { isConditionFailure } from './transactions';

/**
 * Egress state: each organisation's policy (one item each, all in the `EGRESSPOLICIES`
 * partition, so the egress nodes' rule feed reads them with one Query), the active egress nodes
 * (`NETWORK` / `EGRESS#<hostId>`, beside the lighthouses: read with them when the config version
 * moves), and the network's egress routes (on the network item; changing them moves the config
 * version, so every environment's config and every egress node's certificate follow).
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

/**
 * Replaces `organization`'s rules; the revision moves by one. With `expectedRevision` the write
 * happens only if the stored revision is that one (0: never set), else StateConflictError.
 */
export async function putEgressPolicy(
  table: TableAccess,
  input: { organization: string; rules: readonly EgressRule[]; now: Date; expectedRevision?: number },
): Promise<EgressPolicyRecord> {
  const expected = input.expectedRevision;
  const condition = expected === undefined ? undefined : expected === 0 ? 'attribute_not_exists(pk)' : 'revision = :expected';
  try {
    const result = await table.doc.send(
      new UpdateCommand({
        TableName: table.tableName,
        Key: keys.egressPolicy(input.organization),
        // RULES is a DynamoDB reserved word.
        UpdateExpression: 'SET organization = :org, #rules = :rules, updatedAt = :now ADD revision :one',
        ExpressionAttributeNames: { '#rules': 'rules' },
        ...(condition ? { ConditionExpression: condition } : {}),
        ExpressionAttributeValues: {
          ':org': input.organization,
          ':rules': input.rules.map((r) => ({ cidr: r.cidr, proto: r.proto, ports: r.ports })),
          ':now': iso(input.now),
          ':one': 1,
          ...(expected !== undefined && expected !== 0 ? { ':expected': expected } : {}),
        },
        ReturnValues: 'ALL_NEW',
      }),
    );
    return toPolicy(result.Attributes as Item);
  } catch (err) {
    if (isConditionFailure(err)) throw new StateConflictError(`the egress policy of ${input.organization} is no longer at revision ${expected}`);
    throw err;
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
  ]);
}
