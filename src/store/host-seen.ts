import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { toHost } from './items';
import { HOST_SK, HOST_SEEN_SK, iso, keys } from './keys';
import type { HostRecord } from './records';
import type { Item, TableAccess, TransactItem } from './table-access';
import { isConditionFailure } from './transactions';

/** What an agent said about itself on a call: validated by the API (api/last-seen.ts). */
export interface HostSighting {
  readonly hostId: string;
  readonly at: Date;
  readonly agentVersion?: string;
  readonly nebulaVersion?: string;
  /** A host's sighting is written at most once per this interval, unless a version changed. */
  readonly minIntervalMs: number;
}

/**
 * Records that an agent called: `lastSeenAt`, and the versions it named, on the host's own small
 * sighting item (`HOST#<id>` / `SEEN`, no gsi1 attributes, about 70 bytes: 1 write unit; on the
 * host item, which is over 1 KB and copied whole to gsi1, it cost 4). One conditional UpdateItem
 * that only writes when the item's `lastSeenAt` is older than `minIntervalMs` (or absent) or a
 * named version differs, and never once the host's revocation marked the item (revokedAt, see
 * hostSeenRevocation); returns whether it wrote. A refused condition is not an error (another
 * API instance wrote first). The caller authenticated the host, so it exists and was active. The
 * API reads the sighting with the host in one Query (getHostWithSighting) and calls this only
 * when it is stale (api/last-seen.ts), so with 10,000 hosts the writes stay at most 10,000 per
 * 10 minutes, about 17 a second (17 WCU), whatever the poll rate; a version change adds one.
 */
export async function recordHostSeen(table: TableAccess, sighting: HostSighting): Promise<boolean> {
  const set = ['lastSeenAt = :now'];
  const stale = ['attribute_not_exists(lastSeenAt)', 'lastSeenAt < :cutoff'];
  const values: Record<string, unknown> = { ':now': iso(sighting.at), ':cutoff': iso(new Date(sighting.at.getTime() - sighting.minIntervalMs)) };
  for (const [field, value] of [['agentVersion', sighting.agentVersion], ['nebulaVersion', sighting.nebulaVersion]] as const) {
    if (value === undefined) continue;
    set.push(`${field} = :${field}`);
    stale.push(`attribute_not_exists(${field})`, `${field} <> :${field}`);
    values[`:${field}`] = value;
  }
  try {
    await table.doc.send(
      new UpdateCommand({
        TableName: table.tableName,
        Key: keys.hostSeen(sighting.hostId),
        UpdateExpression: `SET ${set.join(', ')}`,
        ConditionExpression: `attribute_not_exists(revokedAt) AND (${stale.join(' OR ')})`,
        ExpressionAttributeValues: values,
      }),
    );
    return true;
  } catch (err) {
    if (isConditionFailure(err)) return false;
    throw err;
  }
}

/**
 * The revocation's mark on the sighting item, in its transaction: later sightings are refused
 * (recordHostSeen's condition), so a call that read the host just before the revocation cannot
 * write after it. The last sighting stays, as it did on the host item.
 */
export function hostSeenRevocation(table: TableAccess, hostId: string, now: Date): TransactItem {
  return {
    Update: {
      TableName: table.tableName,
      Key: keys.hostSeen(hostId),
      UpdateExpression: 'SET revokedAt = :now',
      ExpressionAttributeValues: { ':now': iso(now) },
    },
  };
}

/**
 * A host with its last sighting, in one strongly consistent Query of its partition (sort keys
 * `HOST` to `SEEN`: its certificates, `CERT#…`, sort before). Both items are read for the units
 * of the host item alone (a Query is billed by the items' total size in 4 KB steps: about 1.2 KB).
 */
export async function getHostWithSighting(table: TableAccess, hostId: string): Promise<HostRecord | undefined> {
  const items = await table.queryPage({
    KeyConditionExpression: 'pk = :pk AND sk BETWEEN :host AND :seen',
    ExpressionAttributeValues: { ':pk': keys.host(hostId).pk, ':host': HOST_SK, ':seen': HOST_SEEN_SK },
  });
  const host = items.find((i) => i.sk === HOST_SK);
  return host ? withSighting(toHost(host), items.find((i) => i.sk === HOST_SEEN_SK)) : undefined;
}

function withSighting(host: HostRecord, seen: Item | undefined): HostRecord {
  if (!seen) return host;
  const fields = ['lastSeenAt', 'agentVersion', 'nebulaVersion'] as const;
  return { ...host, ...Object.fromEntries(fields.filter((f) => typeof seen[f] === 'string').map((f) => [f, seen[f]])) };
}
