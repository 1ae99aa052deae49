import { watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { applyRouteDelta, parseRouteTable, parseRouteUpdate, type RouteTable } from '../mesh/routes';
import type { RouteCache } from './route-cache';

/**
 * Where the proxy's route table comes from. A source delivers each new valid table to `onTable`
 * (the first as soon as it has one) and keeps the last good table when a later one is bad,
 * reporting the problem to `onError`.
 */
export interface RouteSource {
  start(onTable: (table: RouteTable) => void, onError: (err: Error) => void): void;
  close(): Promise<void>;
}

/** A fixed table (tests, embedding). */
export class StaticRouteSource implements RouteSource {
  constructor(private readonly table: RouteTable) {}
  start(onTable: (table: RouteTable) => void): void {
    onTable(this.table);
  }
  async close(): Promise<void> {}
}

/**
 * A JSON file in the `RouteTable` shape, re-read when it changes. Watches the directory (editors
 * and deploy tools replace files by rename) and also polls, for filesystems without events.
 */
export class FileRouteSource implements RouteSource {
  private watcher: FSWatcher | undefined;
  private timer: NodeJS.Timeout | undefined;
  private lastText: string | undefined;
  private reading: Promise<void> = Promise.resolve();
  private closed = false;

  constructor(
    readonly path: string,
    private readonly options: { pollIntervalMs?: number } = {},
  ) {}

  start(onTable: (table: RouteTable) => void, onError: (err: Error) => void): void {
    const reload = () => {
      this.reading = this.reading.then(() => this.read(onTable, onError));
    };
    const name = basename(this.path);
    this.watcher = watch(dirname(this.path), (_event, file) => {
      if (!file || file.toString() === name) reload();
    });
    this.watcher.on('error', onError);
    this.timer = setInterval(reload, this.options.pollIntervalMs ?? 5000);
    this.timer.unref();
    reload();
  }

  private async read(onTable: (table: RouteTable) => void, onError: (err: Error) => void): Promise<void> {
    if (this.closed) return;
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (err) {
      onError(new Error(`route file ${this.path}: ${(err as Error).message}`));
      return;
    }
    if (text === this.lastText) return;
    try {
      const table = parseRouteTable(JSON.parse(text));
      this.lastText = text;
      if (!this.closed) onTable(table);
    } catch (err) {
      // A half-written file is common while it is being replaced; the next event re-reads it.
      onError(new Error(`route file ${this.path}: ${(err as Error).message}`));
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    this.watcher?.close();
    clearInterval(this.timer);
    await this.reading;
  }
}

/**
 * The control plane's `GET /v1/routes`: the whole table once, then `?since=<its version>`
 * long-polled with `?wait=<seconds>`, so each change arrives as a delta applied to the table in
 * hand (a new table object: requests in flight keep the one they started with). A delta that does
 * not start at the version in hand, or an answer that does not parse, is dropped and the whole
 * table fetched again; after a network or HTTP error the table in hand is kept. The server answers the whole table itself when it cannot give the changes.
 *
 * With a `cache`, every table is saved (and every answer confirms it), and a proxy that starts
 * while the control plane is unreachable serves the saved table (within the cache's age limit)
 * until the control plane answers; it then asks for the changes since the saved version, so it
 * catches up by itself.
 */
export class HttpRouteSource implements RouteSource {
  private readonly abort = new AbortController();
  private loop: Promise<void> = Promise.resolve();

  constructor(
    readonly url: string,
    private readonly options: {
      waitSeconds?: number;
      retryMs?: number;
      headers?: Record<string, string>;
      /** Where the last good table is kept for a start without the control plane. */
      cache?: RouteCache;
      /** Time allowed for an answer beyond the long-poll wait. @default 15000 */
      requestTimeoutMs?: number;
    } = {},
  ) {}

  start(onTable: (table: RouteTable) => void, onError: (err: Error) => void): void {
    this.loop = this.run(onTable, onError);
  }

  private async run(onTable: (table: RouteTable) => void, onError: (err: Error) => void): Promise<void> {
    const signal = this.abort.signal;
    let current: RouteTable | undefined;
    let cacheTried = false;
    while (!signal.aborted) {
      const url = new URL(this.url);
      const waitSeconds = current === undefined ? 0 : (this.options.waitSeconds ?? 55);
      if (current !== undefined) {
        url.searchParams.set('since', current.version);
        url.searchParams.set('wait', String(waitSeconds));
      }
      const started = Date.now();
      try {
        // A control plane that stopped answering (not refusing) must not hold the first table forever.
        const timeout = AbortSignal.timeout(waitSeconds * 1000 + (this.options.requestTimeoutMs ?? 15_000));
        const res = await fetch(url, { headers: { accept: 'application/json', ...this.options.headers }, signal: AbortSignal.any([signal, timeout]) });
        if (res.status === 304) {
          await res.body?.cancel();
          this.confirmCache(onError);
          // A server that answers at once instead of holding the request must not be polled in a tight loop.
          if (Date.now() - started < 1000) await delay(this.options.retryMs ?? 2000, signal);
          continue;
        }
        if (res.status !== 200) {
          await res.body?.cancel();
          throw new RouteStatusError(`GET ${this.url}: HTTP ${res.status}`, res.status);
        }
        let update: ReturnType<typeof parseRouteUpdate>;
        try {
          update = parseRouteUpdate(await res.json());
        } catch (err) {
          // A bad answer to a delta request would come again: start over from the whole table.
          current = undefined;
          throw err;
        }
        if (update.kind === 'table') {
          current = update.table;
        } else if (current !== undefined && update.delta.from === current.version) {
          current = applyRouteDelta(current, update.delta);
        } else {
          current = undefined;
          throw new Error(`GET ${this.url}: a delta from ${update.delta.from}, not from the version in hand; fetching the whole table`);
        }
        onTable(current);
        this.saveCache(current, onError);
      } catch (err) {
        if (signal.aborted) return;
        onError(err as Error);
        // Only an unreachable control plane: one that refuses this proxy (4xx) has said what it thinks of it.
        const refused = err instanceof RouteStatusError && err.status >= 400 && err.status < 500;
        if (current === undefined && !cacheTried && !refused) {
          cacheTried = true;
          current = this.loadCache(onError);
          if (current) onTable(current);
        }
        await delay(this.options.retryMs ?? 2000, signal);
      }
    }
  }

  async close(): Promise<void> {
    this.abort.abort();
    await this.loop;
  }

  /** The saved table when it may be served; why not otherwise goes to `onError`. */
  private loadCache(onError: (err: Error) => void): RouteTable | undefined {
    const cache = this.options.cache;
    if (!cache) return undefined;
    try {
      const cached = cache.load();
      if (!cached) return undefined;
      onError(new Error(`serving the route table saved at ${cached.confirmedAt.toISOString()} (version ${cached.table.version}) until the control plane answers`));
      return cached.table;
    } catch (err) {
      onError(err as Error);
      return undefined;
    }
  }

  private saveCache(table: RouteTable, onError: (err: Error) => void): void {
    try {
      this.options.cache?.save(table);
    } catch (err) {
      onError(new Error(`saving the route table to ${this.options.cache?.path}: ${(err as Error).message}`, { cause: err }));
    }
  }

  private confirmCache(onError: (err: Error) => void): void {
    try {
      this.options.cache?.confirm();
    } catch (err) {
      onError(new Error(`confirming the saved route table ${this.options.cache?.path}: ${(err as Error).message}`, { cause: err }));
    }
  }
}

/** The control plane answered the route table request with an error status. */
class RouteStatusError extends Error {
  override readonly name = 'RouteStatusError';
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}

function delay(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}
