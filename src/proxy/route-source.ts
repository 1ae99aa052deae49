import { watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { parseRouteTable, type RouteTable } from '../mesh/routes';

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
 * The control plane's `GET /v1/routes`: conditional GETs with `If-None-Match`, long-polled with
 * `?wait=<seconds>` so changes arrive as soon as the server has them.
 */
export class HttpRouteSource implements RouteSource {
  private readonly abort = new AbortController();
  private loop: Promise<void> = Promise.resolve();

  constructor(
    readonly url: string,
    private readonly options: { waitSeconds?: number; retryMs?: number; headers?: Record<string, string> } = {},
  ) {}

  start(onTable: (table: RouteTable) => void, onError: (err: Error) => void): void {
    this.loop = this.run(onTable, onError);
  }

  private async run(onTable: (table: RouteTable) => void, onError: (err: Error) => void): Promise<void> {
    const signal = this.abort.signal;
    let etag: string | undefined;
    while (!signal.aborted) {
      const url = new URL(this.url);
      if (etag !== undefined) url.searchParams.set('wait', String(this.options.waitSeconds ?? 55));
      const started = Date.now();
      try {
        const res = await fetch(url, {
          headers: { accept: 'application/json', ...this.options.headers, ...(etag ? { 'if-none-match': etag } : {}) },
          signal,
        });
        if (res.status === 304) {
          await res.body?.cancel();
          // A server that answers at once instead of holding the request must not be polled in a tight loop.
          if (Date.now() - started < 1000) await delay(this.options.retryMs ?? 2000, signal);
          continue;
        }
        if (res.status !== 200) throw new Error(`GET ${this.url}: HTTP ${res.status}`);
        const table = parseRouteTable(await res.json());
        etag = res.headers.get('etag') ?? `"${table.version}"`;
        onTable(table);
      } catch (err) {
        if (signal.aborted) return;
        onError(err as Error);
        await delay(this.options.retryMs ?? 2000, signal);
      }
    }
  }

  async close(): Promise<void> {
    this.abort.abort();
    await this.loop;
  }
}

function delay(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => {
      clearTimeout(timer);
      resolve();
    }, { once: true });
  });
}
