import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import type { UpstreamProtocol } from '../mesh/routes';

/** What an upstream connection reports to the request currently using it. */
export interface UpstreamOwner {
  onUpstreamData(conn: UpstreamConnection, chunk: Buffer): void;
  onUpstreamDrain(conn: UpstreamConnection): void;
  onUpstreamClose(conn: UpstreamConnection, error: Error | undefined): void;
  onUpstreamTimeout(conn: UpstreamConnection): void;
}

/**
 * One keep-alive connection to an environment's port. Its listeners are attached once, for its
 * whole life, and dispatch to whichever request owns it now: no per-request listener churn.
 */
export class UpstreamConnection {
  owner: UpstreamOwner | undefined;
  /** Requests served; 0 while the first is in flight (a fresh connection cannot be stale). */
  uses = 0;
  idleSince = 0;
  private error: Error | undefined;

  /**
   * @param sharedReads the socket reads into the pool's shared buffer (`onread`) and calls
   *   `receive` itself: chunks are then only valid until `receive` returns.
   */
  constructor(
    readonly key: string,
    readonly socket: Socket,
    private readonly onClosed: (conn: UpstreamConnection) => void,
    readonly sharedReads: boolean,
  ) {
    socket.setNoDelay(true);
    if (!sharedReads) socket.on('data', (chunk: Buffer) => this.receive(chunk));
    socket.on('drain', () => this.owner?.onUpstreamDrain(this));
    socket.on('timeout', () => {
      if (socket.connecting) socket.destroy(Object.assign(new Error('connect timed out'), { code: 'ETIMEDOUT' }));
      else if (this.owner) this.owner.onUpstreamTimeout(this);
      else socket.destroy();
    });
    socket.on('error', (err) => (this.error = err));
    socket.on('end', () => socket.destroy());
    socket.on('close', () => {
      this.onClosed(this);
      const owner = this.owner;
      this.owner = undefined;
      owner?.onUpstreamClose(this, this.error);
    });
  }

  receive(chunk: Buffer): void {
    if (this.owner) this.owner.onUpstreamData(this, chunk);
    else this.socket.destroy(); // bytes nobody asked for: the connection is out of step
  }

  get closed(): boolean {
    return this.socket.destroyed;
  }
}

export interface UpstreamTarget {
  readonly ip: string;
  readonly port: number;
  readonly protocol: UpstreamProtocol;
}

export interface UpstreamPoolOptions {
  /** Idle connections are closed after this long; below Node's 5 s default keep-alive so the app rarely closes first. */
  readonly idleMs?: number;
  /** Longest silence while a request is in flight (no byte from the environment) before 504 / abort. */
  readonly responseTimeoutMs?: number;
  readonly connectTimeoutMs?: number;
  readonly maxIdlePerTarget?: number;
}

/** Keep-alive connections to environments, per (protocol, ip, port), most recently used first. */
export class UpstreamPool {
  private readonly idle = new Map<string, UpstreamConnection[]>();
  private readonly sweeper: NodeJS.Timeout;
  private readonly idleMs: number;
  private readonly readBuffer = Buffer.allocUnsafe(64 * 1024);

  constructor(private readonly options: UpstreamPoolOptions = {}) {
    this.idleMs = options.idleMs ?? 4000;
    this.sweeper = setInterval(() => this.sweep(), Math.min(1000, this.idleMs));
    this.sweeper.unref();
  }

  /** An idle connection to `target`, or a new one (writes to it queue until it connects). */
  acquire(target: UpstreamTarget, owner: UpstreamOwner, fresh = false): UpstreamConnection {
    const key = `${target.protocol}:${target.ip}:${target.port}`;
    const list = fresh ? undefined : this.idle.get(key);
    while (list && list.length > 0) {
      const conn = list.pop()!;
      if (conn.closed) continue;
      conn.owner = owner;
      return conn;
    }
    let conn: UpstreamConnection | undefined;
    const plain = target.protocol === 'http';
    const socket = plain
      ? // One read buffer for all plain connections: no allocation and no stream machinery per read.
        netConnect({
          host: target.ip,
          port: target.port,
          onread: {
            buffer: this.readBuffer,
            callback: (n) => {
              conn?.receive(this.readBuffer.subarray(0, n));
              return true;
            },
          },
        })
      : // The mesh authenticates the environment (nebula certificates); its own TLS certificate is
        // usually a self-signed development one, so it is not checked again here.
        tlsConnect({ host: target.ip, port: target.port, rejectUnauthorized: false, ALPNProtocols: ['http/1.1'] });
    socket.setTimeout(this.options.connectTimeoutMs ?? 10_000);
    socket.once(target.protocol === 'https' ? 'secureConnect' : 'connect', () => socket.setTimeout(this.options.responseTimeoutMs ?? 120_000));
    conn = new UpstreamConnection(key, socket, (c) => this.forget(c), plain);
    conn.owner = owner;
    return conn;
  }

  /**
   * Returns a connection whose last response ended cleanly. It may have been paused for a slow
   * client on the response's last bytes: idle connections read (and see the environment close).
   */
  release(conn: UpstreamConnection): void {
    conn.owner = undefined;
    conn.uses++;
    if (conn.closed) return;
    if (conn.socket.isPaused()) conn.socket.resume();
    conn.idleSince = Date.now();
    let list = this.idle.get(conn.key);
    if (!list) this.idle.set(conn.key, (list = []));
    if (list.length >= (this.options.maxIdlePerTarget ?? 256)) {
      conn.socket.destroy();
      return;
    }
    list.push(conn);
  }

  /** Drops a connection that cannot be reused (unfinished exchange). */
  discard(conn: UpstreamConnection): void {
    conn.owner = undefined;
    conn.socket.destroy();
  }

  private forget(conn: UpstreamConnection): void {
    const list = this.idle.get(conn.key);
    const i = list ? list.indexOf(conn) : -1;
    if (i >= 0) list!.splice(i, 1);
    if (list && list.length === 0) this.idle.delete(conn.key);
  }

  private sweep(): void {
    const cutoff = Date.now() - this.idleMs;
    for (const list of this.idle.values()) {
      for (const conn of list.filter((c) => c.idleSince < cutoff)) conn.socket.destroy();
    }
  }

  close(): void {
    clearInterval(this.sweeper);
    for (const list of [...this.idle.values()]) for (const conn of [...list]) conn.socket.destroy();
    this.idle.clear();
  }
}
