import type { KeyObject } from 'node:crypto';
import { type AddressInfo, createServer as createTcpServer, type Server as TcpServer, type Socket } from 'node:net';
import { createServer, type Server, type TLSSocket } from 'node:tls';
import { RouteIndex, type RouteTable } from '../mesh/routes';
import { type AccessLog, JsonLinesAccessLog } from './access-log';
import { ClientConnection, type ProxyContext } from './connection';
import { ConnectionLimits, DEFAULT_NEW_CONNECTIONS_BURST, DEFAULT_NEW_CONNECTIONS_PER_SECOND, normalizeIp } from './connection-limits';
import type { RouteSource } from './route-source';
import { TokenVerifier } from './token-verifier';
import { UpstreamPool } from './upstream-pool';

export interface ProxyServerOptions {
  /** Host names are `<port>--<hostId>.<domain>`. */
  readonly domain: string;
  /** PEM certificate chain and key for `*.<domain>`. */
  readonly tls: { readonly cert: string | Buffer; readonly key: string | Buffer };
  readonly routes: RouteSource;
  /** Verifies access tokens (Ed25519 public key). */
  readonly tokenPublicKey: KeyObject;
  /** Default: JSON lines on stdout. */
  readonly accessLog?: AccessLog;
  /** Problems that are not a request's (route source errors, new connections refused for their rate). Default: stderr. */
  readonly onError?: (err: Error) => void;
  /** Largest request head; larger gets 431. Default 16 KiB. */
  readonly maxHeaderBytes?: number;
  /** A request head must arrive within this. Default 30 s. */
  readonly headersTimeoutMs?: number;
  /** An idle keep-alive client connection is closed after this. Default 75 s (nginx's keepalive_timeout). */
  readonly idleTimeoutMs?: number;
  /** An idle WebSocket is closed after this. Default 2 h. */
  readonly webSocketIdleTimeoutMs?: number;
  /** Longest silence from an environment during a request. Default 120 s. */
  readonly upstreamTimeoutMs?: number;
  readonly connectTimeoutMs?: number;
  /** Connections one client IPv4 address or IPv6 /64 may have working at once (in a request or a tunnel); idle ones do not count. Default 256. */
  readonly maxConnectionsPerIp?: number;
  /** Open client connections in all; at the cap the longest idle one is closed for a new one. Default 16384. */
  readonly maxConnections?: number;
  /** A connection must finish the TLS handshake and send its first complete request head within this. Default 10 s. */
  readonly firstRequestTimeoutMs?: number;
  /** New connections one client IPv4 address or IPv6 /64 may open per second, sustained; more are closed before TLS. Default {@link DEFAULT_NEW_CONNECTIONS_PER_SECOND}. */
  readonly newConnectionsPerSecond?: number;
  /** New connections one client IPv4 address or IPv6 /64 may open at once before `newConnectionsPerSecond` applies. Default {@link DEFAULT_NEW_CONNECTIONS_BURST}. */
  readonly newConnectionsBurst?: number;
}

/** What the proxy holds right now, and what it refused (for operators, and for tests of its limits). */
export interface ProxyStats {
  /** Open client TCP connections, including those still in the TLS handshake. */
  readonly sockets: number;
  /** Of those, the ones in a request or a tunnel. */
  readonly working: number;
  /** Connections whose reading is paused because the other side is not keeping up. */
  readonly stalled: number;
  /** Bytes held in memory for clients and their environments: unsent output and unparsed input. */
  readonly bufferedBytes: number;
  /** New connections closed before their TLS handshake since the start, opened too fast by their address group. */
  readonly refusedTooFast: number;
}

/** The TLS-terminating proxy: `https://<port>--<hostId>.<domain>` → the environment's overlay IP:port. */
export class ProxyServer {
  /** Accepts TCP connections and hands the admitted ones to `server`. */
  private readonly listener: TcpServer;
  private readonly server: Server;
  private readonly connections = new Set<ClientConnection>();
  private readonly limits: ConnectionLimits;
  private readonly pool: UpstreamPool;
  private readonly sweeper: NodeJS.Timeout;
  private index: RouteIndex | undefined;
  private readonly firstTable: Promise<void>;

  constructor(private readonly options: ProxyServerOptions) {
    this.pool = new UpstreamPool({
      responseTimeoutMs: options.upstreamTimeoutMs,
      connectTimeoutMs: options.connectTimeoutMs,
    });
    const verifier = new TokenVerifier(options.tokenPublicKey);
    const ctx: ProxyContext = {
      domain: options.domain.toLowerCase(),
      maxHeaderBytes: options.maxHeaderBytes ?? 16 * 1024,
      idleTimeoutMs: options.idleTimeoutMs ?? 75_000,
      webSocketIdleTimeoutMs: options.webSocketIdleTimeoutMs ?? 2 * 3600_000,
      routes: () => this.index,
      verifyToken: (token) => verifier.verify(token),
      pool: this.pool,
      log: options.accessLog ?? new JsonLinesAccessLog(process.stdout),
    };
    const firstRequestTimeoutMs = options.firstRequestTimeoutMs ?? 10_000;
    const onError = options.onError ?? ((err: Error) => process.stderr.write(`gateway proxy: ${err.message}\n`));
    this.limits = new ConnectionLimits({
      maxWorkingPerIp: options.maxConnectionsPerIp ?? 256,
      maxSockets: options.maxConnections ?? 16_384,
      firstRequestTimeoutMs,
      newConnections: {
        perSecond: options.newConnectionsPerSecond ?? DEFAULT_NEW_CONNECTIONS_PER_SECOND,
        burst: options.newConnectionsBurst ?? DEFAULT_NEW_CONNECTIONS_BURST,
      },
      report: (line) => onError(new Error(line)),
    });
    this.server = createServer({
      cert: options.tls.cert,
      key: options.tls.key,
      ALPNProtocols: ['http/1.1'],
      handshakeTimeout: firstRequestTimeoutMs,
    });
    // Admitted before the TLS server sees the socket, so a flood of connections beyond the cap or the
    // rate costs no handshake, not even a TLS socket (that alone doubles the cost of a refusal).
    this.listener = createTcpServer({ allowHalfOpen: true }, (socket: Socket) => {
      if (this.limits.accept(socket)) this.server.emit('connection', socket);
    });
    this.server.on('secureConnection', (socket: TLSSocket) => {
      const lease = this.limits.leaseOf(socket);
      if (!lease) {
        socket.destroy();
        return;
      }
      const conn = new ClientConnection(socket, normalizeIp(socket.remoteAddress ?? ''), ctx, lease);
      this.connections.add(conn);
      socket.once('close', () => this.connections.delete(conn));
    });
    this.server.on('tlsClientError', () => {});
    const headersTimeoutMs = options.headersTimeoutMs ?? 30_000;
    this.sweeper = setInterval(
      () => {
        const now = Date.now();
        this.limits.sweep(now);
        for (const conn of this.connections) if (conn.headOverdue(now, headersTimeoutMs)) conn.timeOutHead();
      },
      Math.min(1000, headersTimeoutMs, firstRequestTimeoutMs),
    );
    this.sweeper.unref();

    this.firstTable = new Promise((resolve) => {
      options.routes.start(
        (table: RouteTable) => {
          // Swapped whole: requests in flight keep the route they started with; nothing is dropped
          // but what a narrowed port no longer admits (a tunnel or stream of a visitor it now refuses).
          this.index = new RouteIndex(table);
          for (const conn of this.connections) conn.recheckAccess(this.index);
          resolve();
        },
        onError,
      );
    });
  }

  /** Resolves once the first route table has arrived. */
  ready(): Promise<void> {
    return this.firstTable;
  }

  /** The route table version in use, if any. */
  get routesVersion(): string | undefined {
    return this.index?.version;
  }

  listen(port: number, host?: string): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      this.listener.once('error', reject);
      this.listener.listen(port, host, () => {
        this.listener.off('error', reject);
        resolve(this.listener.address() as AddressInfo);
      });
    });
  }

  stats(): ProxyStats {
    let stalled = 0;
    let bufferedBytes = 0;
    for (const conn of this.connections) {
      if (conn.stalled) stalled++;
      bufferedBytes += conn.bufferedBytes;
    }
    return { sockets: this.limits.sockets, working: this.limits.working, stalled, bufferedBytes, refusedTooFast: this.limits.refusedTooFast };
  }

  /** Replaces the certificate and key for new connections (e.g. after renewal). */
  setTls(tls: { cert: string | Buffer; key: string | Buffer }): void {
    this.server.setSecureContext({ cert: tls.cert, key: tls.key });
  }

  /** Stops listening and closes every connection. */
  async close(): Promise<void> {
    clearInterval(this.sweeper);
    const closed = new Promise<void>((resolve) => this.listener.close(() => resolve()));
    for (const conn of this.connections) conn.destroy();
    this.limits.destroyAll();
    this.pool.close();
    await this.options.routes.close();
    await closed;
  }
}
