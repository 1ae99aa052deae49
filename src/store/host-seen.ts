import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { iso, keys } from './keys';
import type { TableAccess } from './table-access';
import { isConditionFailure } from './transactions';

/** What an agent said about itself on a call: validated by the API (api/last-seen.ts). */
export interface HostSighting {
  readonly hostId: string;
  readonly at: Date;
  readonly agentVersion?: string;
  readonly nebulaVersion?: string;
  /** A host's record is written at most once per this interval, unless a version changed. */
  readonly minIntervalMs: number;
}

/**
 * Records that an agent called: `lastSeenAt`, and the versions it named. One conditional
 * UpdateItem that only writes when the record's `lastSeenAt` is older than `minIntervalMs` (or
 * absent) or a named version differs, and only on an active host; returns whether it wrote. A
 * refused condition is not an error (another API instance wrote first). The API reads the host
 * on every call anyway and calls this only when that record is stale (api/last-seen.ts), so with
 * 10,000 hosts long-polling (about 180 config calls a second with 55 s polls) the writes stay at
 * most 10,000 per 10 minutes, about 17 a second (17 WCU: a host item is under 1 KB), whatever
 * the poll rate; a version change adds one write per host.
 */
export async function recordHostSeen(table: TableAccess, sighting: HostSighting): Promise<boolean> {
  const set = ['lastSeenAt = :now'];
  const stale = ['attribute_not_exists(lastSeenAt)', 'lastSeenAt < :cutoff'];
  const values: Record<string, unknown> = { ':now': iso(sighting.at), ':cutoff': iso(new Date(sighting.at.getTime() - sighting.minIntervalMs)), ':active': 'active' };
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
        Key: keys.host(sighting.hostId),
        UpdateExpression: `SET ${set.join(', ')}`,
        ConditionExpression: `#status = :active AND (${stale.join(' OR ')})`,
        ExpressionAttributeNames: { '#status': 'status' },
        ExpressionAttributeValues: values,
      }),
    );
    return true;
  } catch (err) {
    if (isConditionFailure(err)) return false;
    throw err;
  }
}
