import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import type { Role } from '../mesh';
import { InvalidCursorError, toHost } from './items';
import { HOST_LISTING_SHARDS, HOSTS_GSI_PREFIX } from './keys';
import type { HostRecord } from './records';
import type { Item, TableAccess } from './table-access';

export interface HostPage {
  readonly hosts: HostRecord[];
  readonly nextCursor?: string;
}

/** Where a listing stands in one shard: after this gsi1 sort key, from the start (null), or done (false). */
type ShardPosition = string | null | false;

/**
 * One page of hosts sorted by role then id, merged from the listing shards (`HOSTS#<n>`), queried
 * in parallel. Each shard is read a little beyond its share of the page; the page ends at the
 * smallest last key among shards that have more, so no host of another shard can sort before
 * its end: pages are in global order and may be shorter than `limit`. The cursor holds each
 * shard's position.
 */
export async function listHosts(table: TableAccess, options: { role?: Role; limit: number; cursor?: string }): Promise<HostPage> {
  const positions = options.cursor === undefined ? Array<ShardPosition>(HOST_LISTING_SHARDS).fill(null) : decodeCursor(options.cursor);
  const perShard = Math.ceil((options.limit * 2) / HOST_LISTING_SHARDS) + 2;
  const reads = await Promise.all(positions.map((position, shard) => (position === false ? undefined : readShard(table, shard, position, perShard, options.role))));
  // The page may end no later than the last key read from a shard that has more.
  let end: string | undefined;
  for (const read of reads) {
    if (read?.more) {
      const last = read.items[read.items.length - 1].gsi1sk as string;
      if (end === undefined || last < end) end = last;
    }
  }
  const candidates = reads
    .flatMap((read, shard) => (read ? read.items.map((item) => ({ item, shard })) : []))
    .filter(({ item }) => end === undefined || (item.gsi1sk as string) <= end)
    .sort((a, b) => ((a.item.gsi1sk as string) < (b.item.gsi1sk as string) ? -1 : 1))
    .slice(0, options.limit);
  const next: ShardPosition[] = positions.map((position, shard) => {
    const read = reads[shard];
    if (!read) return false;
    const taken = candidates.filter((c) => c.shard === shard);
    const allTaken = taken.length === read.items.length;
    if (allTaken && !read.more) return false;
    return taken.length > 0 ? (taken[taken.length - 1].item.gsi1sk as string) : position;
  });
  const hosts = candidates.map((c) => toHost(c.item));
  return next.every((p) => p === false) ? { hosts } : { hosts, nextCursor: encodeCursor(next) };
}

async function readShard(table: TableAccess, shard: number, after: string | null, limit: number, role: Role | undefined): Promise<{ items: Item[]; more: boolean }> {
  const gsi1pk = `${HOSTS_GSI_PREFIX}${shard}`;
  const result = await table.doc.send(
    new QueryCommand({
      TableName: table.tableName,
      IndexName: 'gsi1',
      KeyConditionExpression: role ? 'gsi1pk = :pk AND begins_with(gsi1sk, :role)' : 'gsi1pk = :pk',
      ExpressionAttributeValues: { ':pk': gsi1pk, ...(role ? { ':role': `${role}#` } : {}) },
      Limit: limit,
      ExclusiveStartKey: after === null ? undefined : { gsi1pk, gsi1sk: after, pk: `HOST#${after.slice(after.indexOf('#') + 1)}`, sk: 'HOST' },
    }),
  );
  return { items: result.Items ?? [], more: result.LastEvaluatedKey !== undefined };
}

/** A sort key as the listing writes it: `<role>#<host id>`. */
const SORT_KEY = /^[a-z]{1,32}#[a-z0-9-]{1,64}$/;

function encodeCursor(positions: readonly ShardPosition[]): string {
  return Buffer.from(JSON.stringify(positions)).toString('base64url');
}

function decodeCursor(cursor: string): ShardPosition[] {
  try {
    const value = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as unknown;
    const ok =
      Array.isArray(value) &&
      value.length === HOST_LISTING_SHARDS &&
      value.every((p) => p === null || p === false || (typeof p === 'string' && SORT_KEY.test(p))) &&
      value.some((p) => p !== false);
    if (ok) return value as ShardPosition[];
  } catch {
    // not base64 JSON: refused below
  }
  throw new InvalidCursorError();
}
