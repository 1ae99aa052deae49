import { createHash } from 'node:crypto';
import type { RouteEntry, RouteTable } from '../mesh/routes';
import type { GatewayStore } from '../store';

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
 * Caches the rendered route table per version counter: a request costs at most one GetItem of
 * the counter (none within `maxStalenessMs` of the last check), and the `ROUTES` partition is
 * queried and rendered again only when the counter moved. Changes made by this process
 * invalidate at once; other instances' changes show within `maxStalenessMs`.
 */
export class RouteTableCache {
  private cached: Promise<RenderedRouteTable> | undefined;
  private confirmedAt = -Infinity;

  constructor(
    private readonly store: GatewayStore,
    private readonly maxStalenessMs: number,
  ) {}

  async current(): Promise<RenderedRouteTable> {
    if (this.cached && performance.now() - this.confirmedAt < this.maxStalenessMs) return this.cached;
    const counter = await this.store.getRoutesVersion();
    this.confirmedAt = performance.now();
    const cached = this.cached ? await this.cached.catch(() => undefined) : undefined;
    if (cached && cached.counter === counter) return cached;
    // The counter first, then the routes: a table may be newer than its counter, never older.
    const loading = this.store.listRoutes().then((routes) => renderRouteTable(routes, counter));
    this.cached = loading;
    loading.catch(() => {
      if (this.cached === loading) this.invalidate();
    });
    return loading;
  }

  /** Read the counter again on next use (another instance may have changed the routes). */
  recheck(): void {
    this.confirmedAt = -Infinity;
  }

  /** Forget the cached table (this process just changed the routes). */
  invalidate(): void {
    this.confirmedAt = -Infinity;
    this.cached = undefined;
  }
}
