import { closeSync, fsyncSync, openSync, readFileSync, renameSync, rmSync, statSync, utimesSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { parseRouteTable, type RouteTable } from '../mesh/routes';

/**
 * A saved route table older than this is not served: it may publish a port that was since made
 * private or removed. One day is the default host certificate lifetime, so a table that old mostly
 * routes to hosts whose certificates (and tunnels) have ended anyway.
 */
export const DEFAULT_ROUTE_CACHE_MAX_AGE_MS = 24 * 3600_000;

/** The file in a proxy's state directory that holds its last good route table. */
export const ROUTE_CACHE_FILE = 'routes.json';

export class RouteCacheError extends Error {
  override readonly name = 'RouteCacheError';
}

/** A table loaded from the cache, with when the control plane last confirmed it. */
export interface CachedRouteTable {
  readonly table: RouteTable;
  readonly confirmedAt: Date;
}

/**
 * The proxy's last good route table on disk, so that a proxy restarted while the control plane is
 * down still serves. The file is replaced whole (temp, fsync, rename) when the table changes; its
 * modification time is when the control plane last confirmed the table current (each answer,
 * a 304 included, touches it), which is what the age limit is measured against.
 */
export class RouteCache {
  constructor(
    readonly path: string,
    private readonly maxAgeMs = DEFAULT_ROUTE_CACHE_MAX_AGE_MS,
  ) {}

  /** Saves `table` (only when it differs from the file's) and marks it confirmed now. */
  save(table: RouteTable, now = new Date()): void {
    const text = `${JSON.stringify(table)}\n`;
    if (this.readText() !== text) writeAtomic(this.path, text);
    utimesSync(this.path, now, now);
  }

  /** The control plane answered that the table in hand is still current. */
  confirm(now = new Date()): void {
    try {
      utimesSync(this.path, now, now);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }

  /**
   * The saved table, or undefined when there is none; throws a RouteCacheError when it is older
   * than the age limit or not a valid table (the caller logs why it serves nothing).
   */
  load(now = new Date()): CachedRouteTable | undefined {
    let confirmedAt: Date;
    try {
      confirmedAt = statSync(this.path).mtime;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
    const age = now.getTime() - confirmedAt.getTime();
    if (age > this.maxAgeMs) {
      throw new RouteCacheError(`saved route table ${this.path} was last confirmed ${confirmedAt.toISOString()}, longer ago than the limit of ${Math.round(this.maxAgeMs / 1000)} s; not serving it`);
    }
    try {
      return { table: parseRouteTable(JSON.parse(readFileSync(this.path, 'utf8'))), confirmedAt };
    } catch (err) {
      throw new RouteCacheError(`saved route table ${this.path} is unusable: ${(err as Error).message}`, { cause: err });
    }
  }

  private readText(): string | undefined {
    try {
      return readFileSync(this.path, 'utf8');
    } catch {
      return undefined;
    }
  }
}

/** Temp file beside `path` (0600: the table names who owns what), fsync, rename, fsync of the directory. */
function writeAtomic(path: string, text: string): void {
  const temp = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
  const fd = openSync(temp, 'w', 0o600);
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  try {
    renameSync(temp, path);
  } catch (err) {
    rmSync(temp, { force: true });
    throw err;
  }
  const dir = openSync(dirname(path), 'r');
  try {
    fsyncSync(dir);
  } finally {
    closeSync(dir);
  }
}
