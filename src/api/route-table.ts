import { createHash } from 'node:crypto';
import type { RouteEntry, RouteTable } from '../mesh/routes';
import type { GatewayStore } from '../store';
import { VersionedCache } from './versioned-cache';

/** The body of `GET /v1/routes`, serialized once per route table version. */
export interface RenderedRouteTable {
  /** The store's route table version counter this table was read at (or after). */
  readonly counter: number;
  readonly json: string;
  readonly etag: string;
}

/**
 * The proxies' route table as JSON. Its `version` is a hash of the routes, so it names the
 * content whatever instance or counter produced it; the ETag is that version quoted.
 */
export function renderRouteTable(routes: readonly RouteEntry[], counter: number): RenderedRouteTable {
  const ordered = [...routes].sort((a, b) => (a.hostId < b.hostId ? -1 : a.hostId > b.hostId ? 1 : 0));
  const version = createHash('sha256').update(JSON.stringify(ordered)).digest('base64url').slice(0, 32);
  const table: RouteTable = { version, routes: ordered };
  return { counter, json: JSON.stringify(table), etag: `"${version}"` };
}

/**
 * Caches the rendered route table per version counter: the `ROUTES` partition is queried and
 * rendered again only when the counter moved (see VersionedCache).
 */
export class RouteTableCache {
  private readonly tables: VersionedCache<RenderedRouteTable>;

  constructor(store: GatewayStore, maxStalenessMs: number) {
    this.tables = new VersionedCache(
      () => store.getRoutesVersion(),
      (counter) => store.listRoutes().then((routes) => renderRouteTable(routes, counter)),
      maxStalenessMs,
    );
  }

  current(): Promise<RenderedRouteTable> {
    return this.tables.current();
  }

  /** Read the counter again on next use (another instance may have changed the routes). */
  recheck(): void {
    this.tables.recheck();
  }

  /** Forget the cached table (this process just changed the routes). */
  invalidate(): void {
    this.tables.invalidate();
  }
}
