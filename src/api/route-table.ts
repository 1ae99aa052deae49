import type { RouteDelta, RouteEntry, RouteTable } from '../mesh/routes';
import type { GatewayStore } from '../store';
import type { RouteChange, RoutesHead } from '../store';
import { VersionedCache } from './versioned-cache';

/**
 * The proxies' route table and its changes, as served by `GET /v1/routes`.
 *
 * Versions are ordered: `<epoch>.<seq>`, the store's route change sequence number and the epoch
 * drawn at this table's first change (`0` before any change, the empty table of every epoch).
 * A proxy sends its version as `?since=` and gets the changes after it, or the whole table with a
 * `snapshot` reason when they cannot be given (see `RouteTableCache.since`).
 */

/** At most this many changes are read for one delta; a proxy further behind gets the whole table. */
export const MAX_DELTA_CHANGES = 1000;

/** Why a `?since=` request got the whole table instead of a delta. */
export type SnapshotReason = 'unknown-version' | 'expired' | 'gap' | 'behind';

export function formatRoutesVersion(head: RoutesHead): string {
  return head.seq === 0 || head.epoch === undefined ? '0' : `${head.epoch}.${head.seq}`;
}

/** `0`, or an 8-hex-digit epoch, a dot and a sequence number. */
export const ROUTES_VERSION_PATTERN = /^(?:0|([0-9a-f]{8})\.([1-9][0-9]{0,11}))$/;

/** A version as `formatRoutesVersion` writes it, or undefined for anything else. */
export function parseRoutesVersion(text: string): RoutesHead | undefined {
  const m = ROUTES_VERSION_PATTERN.exec(text);
  if (!m) return undefined;
  return m[1] === undefined ? { seq: 0 } : { seq: Number(m[2]), epoch: m[1] };
}

/** The body of `GET /v1/routes`, serialized once per route table version. */
export interface RenderedRouteTable {
  /** The store's route sequence number this table was read at (or after: a table may be newer than its version, never older). */
  readonly counter: number;
  readonly version: string;
  readonly json: string;
  readonly etag: string;
}

export function renderRouteTable(routes: readonly RouteEntry[], head: RoutesHead): RenderedRouteTable {
  const ordered = [...routes].sort((a, b) => (a.hostId < b.hostId ? -1 : a.hostId > b.hostId ? 1 : 0));
  const version = formatRoutesVersion(head);
  const table: RouteTable = { version, routes: ordered };
  return { counter: head.seq, version, json: JSON.stringify(table), etag: `"${version}"` };
}

/** The whole table as the answer to `?since=`: the same body with the reason first. */
export function snapshotJson(table: RenderedRouteTable, reason: SnapshotReason): string {
  return `{"snapshot":${JSON.stringify(reason)},${table.json.slice(1)}`;
}

/**
 * The changes after `from` collapsed to one delta: each host's last change wins (its route, or its
 * removal). Undefined when the records do not follow on from `from` without a hole.
 */
export function collapseChanges(from: RoutesHead, epoch: string | undefined, changes: readonly RouteChange[]): RouteDelta | undefined {
  if (changes.length === 0 || epoch === undefined) return undefined;
  const last = new Map<string, RouteEntry | undefined>();
  for (let i = 0; i < changes.length; i++) {
    if (changes[i].seq !== from.seq + 1 + i) return undefined;
    last.delete(changes[i].hostId);
    last.set(changes[i].hostId, changes[i].entry);
  }
  const upsert: RouteEntry[] = [];
  const remove: string[] = [];
  for (const [hostId, entry] of last) {
    if (entry) upsert.push(entry);
    else remove.push(hostId);
  }
  const to = { seq: changes[changes.length - 1].seq, epoch };
  return { from: formatRoutesVersion(from), to: formatRoutesVersion(to), upsert, remove };
}

export type SinceAnswer =
  | { readonly kind: 'current' }
  | { readonly kind: 'delta'; readonly to: string; readonly json: string }
  | { readonly kind: 'snapshot'; readonly reason: SnapshotReason };

/**
 * The route table cached per sequence number (the `ROUTES` partition is queried and rendered again
 * only when it moved), and the head read at most once per `maxStalenessMs`: a delta request
 * costs that GetItem and one Query of the change records after its version, never the table.
 */
export class RouteTableCache {
  private readonly tables: VersionedCache<RenderedRouteTable>;
  private cachedHead: Promise<RoutesHead> | undefined;
  private headAt = -Infinity;

  constructor(
    private readonly store: GatewayStore,
    private readonly maxStalenessMs: number,
  ) {
    this.tables = new VersionedCache(
      async () => (await this.head()).seq,
      async (seq) => {
        // The epoch never changes once drawn, so a head read after `seq` names the same one.
        const epoch = seq === 0 ? undefined : (await this.head()).epoch;
        return renderRouteTable(await store.listRoutes(), { seq, epoch });
      },
      0,
    );
  }

  /** The store's route sequence number and epoch, at most `maxStalenessMs` old. */
  head(): Promise<RoutesHead> {
    if (this.cachedHead && performance.now() - this.headAt < this.maxStalenessMs) return this.cachedHead;
    const reading = this.store.getRoutesHead();
    this.cachedHead = reading;
    this.headAt = performance.now();
    reading.catch(() => {
      if (this.cachedHead === reading) this.recheck();
    });
    return reading;
  }

  current(): Promise<RenderedRouteTable> {
    return this.tables.current();
  }

  /**
   * What a proxy at version `since` needs, and the head it was decided against. A version ahead of
   * the cached head (another instance served it) is checked against a fresh read of the head first;
   * a delta stops at the head, so a version this instance hands out is never ahead of its head.
   */
  async since(since: RoutesHead): Promise<{ answer: SinceAnswer; head: RoutesHead }> {
    let head = await this.head();
    if (since.seq > head.seq && since.epoch === head.epoch) {
      this.recheck();
      head = await this.head();
    }
    const sameTable = since.seq === 0 || since.epoch === head.epoch;
    if (!sameTable || since.seq > head.seq) return { head, answer: { kind: 'snapshot', reason: 'unknown-version' } };
    if (since.seq === head.seq) return { head, answer: { kind: 'current' } };
    if (head.seq - since.seq > MAX_DELTA_CHANGES) return { head, answer: { kind: 'snapshot', reason: 'behind' } };
    const changes = (await this.store.listRouteChanges(since.seq, head.seq - since.seq)).filter((c) => c.seq <= head.seq);
    if (changes.length === 0 || changes[0].seq !== since.seq + 1) return { head, answer: { kind: 'snapshot', reason: 'expired' } };
    const delta = collapseChanges(since, head.epoch, changes);
    if (!delta) return { head, answer: { kind: 'snapshot', reason: 'gap' } };
    return { head, answer: { kind: 'delta', to: delta.to, json: JSON.stringify(delta) } };
  }

  /** Read the head again on next use (another instance may have changed the routes). */
  recheck(): void {
    this.headAt = -Infinity;
  }

  /** Forget the cached table (this process just changed the routes). */
  invalidate(): void {
    this.recheck();
    this.tables.invalidate();
  }
}
