import type { Socket } from 'node:net';
import { AccessTokenError, type VerifiedAccessToken } from '../mesh/access-token';
import { isAllowed, parseProxyHostName, type Principal, type RouteIndex } from '../mesh/routes';
import { preflightResponseHead, scrubRequest } from './access';
import { type AccessLog, isoNow } from './access-log';
import { decide } from './decision';
import { buildRequestHead, buildResponseHead, preflightHeaders, responseHeadIsPortable } from './forward-heads';
import {
  BodyTracker,
  findHeadEnd,
  HttpParseError,
  parseRequestHead,
  parseResponseHead,
  type RequestHead,
  requestFraming,
  responseFraming,
  wantsClose,
} from './http1';
import { htmlResponse, redirectResponse, refusalResponse, signOutResponse } from './pages';
import type { UpstreamConnection, UpstreamOwner, UpstreamPool, UpstreamTarget } from './upstream-pool';
import type { WorkLease } from './connection-limits';

/** What every client connection shares: configuration, routes, token checks, pool and log. */
export interface ProxyContext {
  readonly domain: string;
  readonly maxHeaderBytes: number;
  readonly idleTimeoutMs: number;
  readonly webSocketIdleTimeoutMs: number;
  routes(): RouteIndex | undefined;
  /** Throws `AccessTokenError` for an unacceptable token. */
  verifyToken(token: string): VerifiedAccessToken;
  readonly pool: UpstreamPool;
  readonly log: AccessLog;
}

const enum State {
  /** Reading a request head (or idle between requests). */
  Head,
  /** Forwarding the request body. */
  Body,
  /** Request sent; waiting for the rest of the response. */
  Response,
  /** A WebSocket (or other upgrade) is relayed byte for byte. */
  Tunnel,
  Closed,
}

/** Buffered pipelined bytes beyond which the client is paused until its earlier requests finish. */
const MAX_BUFFERED = 64 * 1024;
const MAX_RESPONSE_HEAD = 64 * 1024;

/** RFC 9110 §9.2.2: requests that may be sent again after a connection failed before the answer. */
const IDEMPOTENT_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']);

/** One request in flight on a client connection. */
class Exchange {
  upstream: UpstreamConnection | undefined;
  requestBody!: BodyTracker;
  responseBody: BodyTracker | undefined;
  responseHead: Buffer | undefined;
  responseStarted = false;
  /** The upstream must not be reused after this exchange. */
  spoiled = false;
  status = 0;
  principal: Principal | undefined;
  target!: UpstreamTarget;
  hostId!: string;
  port!: number;
  upstreamHead!: string;
  retried = false;
  /** An upgrade was forwarded: only then may the environment answer 101. */
  upgrade = false;
  /** An anonymous CORS preflight: only the status and CORS headers of the answer go back, no body. */
  preflight = false;
  /** When the token that admitted this request expires, in ms since the epoch; 0: no token needed (public port, preflight). */
  tokenExpiresAt = 0;
  constructor(
    readonly head: RequestHead,
    readonly host: string,
    readonly started: number,
  ) {}
}

/**
 * A client's TLS connection: parses request heads, decides (route, access), forwards heads it
 * rebuilt and bodies as they are, and relays responses without turning them into objects.
 * One request at a time; pipelined requests wait in the buffer.
 */
export class ClientConnection implements UpstreamOwner {
  private state = State.Head;
  /**
   * Unparsed input, oldest first: appended without copying (a client sending tiny TLS records
   * would otherwise make each one re-copy everything pending), joined only when read as `buf`.
   */
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  /** When the first byte of the pending request head arrived (0: none pending). */
  headStartedAt = 0;
  private exchange: Exchange | undefined;
  private closeAfter = false;
  private paused = false;
  /**
   * Ends an upload, a tunnel or a streaming response when the token that admitted it expires: one
   * timer at a time, armed when a request body or a response outlives its first chunk, nothing per
   * frame or chunk.
   */
  private tokenExpiry: NodeJS.Timeout | undefined;

  constructor(
    readonly socket: Socket,
    readonly clientIp: string,
    private readonly ctx: ProxyContext,
    /** Counts this connection toward its IP's working limit while a request or tunnel is in progress. */
    private readonly lease: WorkLease,
  ) {
    socket.setNoDelay(true);
    socket.setTimeout(ctx.idleTimeoutMs);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('drain', () => this.onClientDrain());
    socket.on('timeout', () => this.onClientTimeout());
    socket.on('error', () => {});
    socket.on('end', () => this.onClientEnd());
    socket.on('close', () => this.onClientClose());
  }

  /** Whether a request head has been arriving for longer than `ms` (slow-header clients). */
  headOverdue(now: number, ms: number): boolean {
    return this.state === State.Head && this.headStartedAt !== 0 && now - this.headStartedAt > ms;
  }

  /** Whether reading from the client or from its environment is paused for back-pressure. */
  get stalled(): boolean {
    return this.paused || this.exchange?.upstream?.socket.isPaused() === true;
  }

  /** Unparsed input as one buffer (joined once if it came in pieces), or undefined when there is none. */
  private get buf(): Buffer | undefined {
    if (this.pending.length > 1) this.pending = [Buffer.concat(this.pending, this.pendingBytes)];
    return this.pending[0];
  }

  private set buf(value: Buffer | undefined) {
    this.pending = value ? [value] : [];
    this.pendingBytes = value?.length ?? 0;
  }

  /** Bytes held for this connection: unsent output both ways and unparsed input. */
  get bufferedBytes(): number {
    const ex = this.exchange;
    const up = ex?.upstream;
    return this.socket.writableLength + this.pendingBytes + (ex?.responseHead?.length ?? 0) + (up ? up.socket.writableLength : 0);
  }

  /** Ends a connection whose head is overdue with 408. */
  timeOutHead(): void {
    this.respondLocally(undefined, 408, 'The request took too long to arrive.', 'head-timeout', true);
  }

  private onData(chunk: Buffer): void {
    switch (this.state) {
      case State.Head:
        if (this.headStartedAt === 0) this.headStartedAt = Date.now();
        this.append(chunk);
        this.processHeads();
        return;
      case State.Body:
        this.forwardBody(chunk);
        return;
      case State.Response:
        this.buffer(chunk);
        return;
      case State.Tunnel: {
        const up = this.exchange?.upstream;
        if (up && !up.socket.write(chunk)) this.pause();
        return;
      }
      case State.Closed:
        return;
    }
  }

  private append(chunk: Buffer): void {
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
  }

  private buffer(chunk: Buffer): void {
    this.append(chunk);
    if (this.pendingBytes > MAX_BUFFERED) this.pause();
  }

  private pause(): void {
    if (!this.paused) {
      this.paused = true;
      this.socket.pause();
    }
  }

  private resume(): void {
    if (this.paused) {
      this.paused = false;
      this.socket.resume();
    }
  }

  private processHeads(): void {
    while (this.state === State.Head && this.buf) {
      // The client is not taking our answers: read none of its further requests until it does.
      if (this.socket.writableNeedDrain) {
        this.pause();
        return;
      }
      const buf = this.buf;
      const end = findHeadEnd(buf);
      if (end < 0 || end > this.ctx.maxHeaderBytes) {
        if (end > this.ctx.maxHeaderBytes || buf.length > this.ctx.maxHeaderBytes) {
          this.respondLocally(undefined, 431, 'The request headers are too large.', 'headers-too-large', true);
        }
        return;
      }
      this.buf = end < buf.length ? buf.subarray(end) : undefined;
      this.headStartedAt = this.buf ? Date.now() : 0;
      let head: RequestHead;
      try {
        head = parseRequestHead(buf, end);
      } catch (err) {
        const status = err instanceof HttpParseError ? err.status : 400;
        this.respondLocally(undefined, status, 'The request could not be read.', 'bad-request', true);
        return;
      }
      if (!this.lease.begin()) {
        const page = htmlResponse(429, 'Too many requests from your address are in progress. Try again in a moment.', {
          close: true,
          head: head.method === 'HEAD',
          extraHeaders: ['Retry-After: 1'],
        });
        this.respondRaw(undefined, 429, page, 'too-many-working', true);
        return;
      }
      this.handleRequest(head);
    }
  }

  private handleRequest(head: RequestHead): void {
    const hosts = head.host;
    const host = hosts[0] ?? '';
    const ex = new Exchange(head, host, performance.now());
    this.exchange = ex;
    // HTTP/1.0 clients are answered once per connection (their keep-alive is not worth the cases).
    this.closeAfter = this.closeAfter || head.minor === 0 || wantsClose(head);
    let framing;
    try {
      framing = requestFraming(head);
    } catch (err) {
      this.respondLocally(ex, (err as HttpParseError).status, 'The request body framing is not acceptable.', 'bad-framing', true);
      return;
    }
    ex.requestBody = new BodyTracker(framing);
    const hasBody = framing.kind !== 'none';
    if (hosts.length !== 1) {
      this.respondLocally(ex, 400, 'The request needs exactly one Host header.', 'bad-host', hasBody);
      return;
    }
    const routes = this.ctx.routes();
    if (!routes) {
      this.respondLocally(ex, 503, 'The proxy has not loaded its routes yet. Try again in a moment.', 'no-routes', hasBody);
      return;
    }
    const parsed = parseProxyHostName(host, this.ctx.domain);
    const route = parsed && routes.lookup(parsed);
    if (!parsed || !route) {
      this.respondLocally(ex, 404, `Nothing is published at ${stripPortOf(host)}.`, 'unknown-host', hasBody);
      return;
    }
    ex.hostId = parsed.hostId;
    ex.port = parsed.port;
    ex.target = { ip: route.entry.ip, port: route.port.port, protocol: route.port.protocol };

    const scrubbed = scrubRequest(head.target, head.headers);
    let verified: VerifiedAccessToken | undefined;
    let tokenProblem: AccessTokenError | undefined;
    if (scrubbed.token !== undefined) {
      try {
        verified = this.ctx.verifyToken(scrubbed.token);
        ex.principal = verified.principal;
      } catch (err) {
        if (!(err instanceof AccessTokenError)) throw err;
        tokenProblem = err;
      }
    }
    let upgrade = head.upgrade && head.connection.includes('upgrade');
    const facts = {
      method: head.method,
      target: scrubbed.target,
      headers: head.headers,
      upgrade,
      hasBody,
      token: scrubbed.token,
      tokenSource: scrubbed.source,
      verified,
      tokenProblem: tokenProblem?.code,
    };
    const decision = decide(facts, route, this.ctx.domain, Date.now());
    if (decision.kind === 'forward') {
      if (decision.untilTokenExpires) ex.tokenExpiresAt = verified!.expiresAt.getTime();
    } else if (decision.kind === 'forward-preflight') {
      ex.preflight = true;
      upgrade = false;
    } else {
      const page = { host: stripPortOf(host), head: head.method === 'HEAD', close: hasBody || this.closeAfter };
      if (decision.kind === 'redirect') {
        // One-time URL token: keep it in a host-only cookie and take it out of the address bar.
        this.respondRaw(ex, 302, redirectResponse(decision.location, decision.setCookie, page.close), 'token-cookie', hasBody);
      } else if (decision.kind === 'sign-out') {
        this.respondRaw(ex, 200, signOutResponse(page), 'sign-out', hasBody);
      } else {
        this.respondRaw(ex, decision.status, refusalResponse(decision, page), decision.reason, hasBody);
      }
      return;
    }
    ex.upgrade = upgrade;
    ex.upstreamHead = buildRequestHead(head.method, scrubbed.target, ex.preflight ? preflightHeaders(scrubbed.headers) : scrubbed.headers, head.connection, {
      minor: head.minor,
      clientIp: this.clientIp,
      host,
      upgrade,
    });
    this.state = hasBody ? State.Body : State.Response;
    this.sendUpstream(ex, false);
    // A body still arriving (a slow upload, or one that never ends) is relayed only while the token lasts.
    if (this.state === State.Body && this.exchange === ex) this.endAtTokenExpiry(ex);
  }

  private sendUpstream(ex: Exchange, fresh: boolean): void {
    const up = this.ctx.pool.acquire(ex.target, this, fresh);
    ex.upstream = up;
    up.socket.write(ex.upstreamHead, 'latin1');
    if (this.state === State.Body && this.buf) {
      const pending = this.buf;
      this.buf = undefined;
      this.forwardBody(pending);
    }
  }

  private forwardBody(chunk: Buffer): void {
    const ex = this.exchange!;
    let end: number;
    try {
      end = ex.requestBody.take(chunk, 0);
    } catch {
      // Malformed chunked body: the environment got a partial request; neither side is reusable.
      ex.spoiled = true;
      if (!ex.responseStarted) this.respondLocally(ex, 400, 'The request body could not be read.', 'bad-body', true);
      else this.destroy();
      return;
    }
    const up = ex.upstream!;
    if (end > 0 && !up.socket.write(end === chunk.length ? chunk : chunk.subarray(0, end))) this.pause();
    if (ex.requestBody.done) {
      this.state = State.Response;
      // Uploaded in time: its answer, however late, is timed like any other, from its first chunk.
      if (!ex.responseBody) this.clearTokenExpiry();
      if (end < chunk.length) this.buffer(chunk.subarray(end));
    }
  }

  onUpstreamData(up: UpstreamConnection, chunk: Buffer): void {
    const ex = this.exchange;
    if (!ex || ex.upstream !== up) return;
    if (this.state === State.Tunnel) {
      if (!this.writeToClient(up, chunk)) up.socket.pause();
      return;
    }
    ex.responseStarted = true;
    if (!ex.responseBody) {
      this.onResponseHeadBytes(ex, up, chunk);
      return;
    }
    this.relayBody(ex, up, chunk, 0);
  }

  private onResponseHeadBytes(ex: Exchange, up: UpstreamConnection, chunk: Buffer): void {
    let buf = ex.responseHead ? Buffer.concat([ex.responseHead, chunk]) : chunk;
    for (;;) {
      const end = findHeadEnd(buf);
      if (end < 0) {
        if (buf.length > MAX_RESPONSE_HEAD) this.upstreamFailed(ex, 502, 'The environment sent an unreadable response.', 'bad-response');
        else ex.responseHead = up.sharedReads ? Buffer.from(buf) : buf; // kept past this call
        return;
      }
      ex.responseHead = undefined;
      let head;
      try {
        head = parseResponseHead(buf, end);
      } catch {
        this.upstreamFailed(ex, 502, 'The environment sent an unreadable response.', 'bad-response');
        return;
      }
      if (head.status === 101) {
        if (!ex.upgrade) {
          this.upstreamFailed(ex, 502, 'The environment switched protocols unasked.', 'bad-response');
          return;
        }
        this.startTunnel(ex, up, buf);
        return;
      }
      if (head.status < 200) {
        // 100 Continue, 103 Early Hints: pass on (not to an anonymous preflight), then read the final head.
        if (!ex.preflight && !this.writeToClient(up, buf.subarray(0, end))) up.socket.pause();
        if (end === buf.length) return;
        buf = buf.subarray(end);
        continue;
      }
      let framing;
      try {
        framing = responseFraming(head, ex.head.method);
      } catch {
        this.upstreamFailed(ex, 502, 'The environment sent an unreadable response.', 'bad-response');
        return;
      }
      ex.status = head.status;
      ex.responseBody = new BodyTracker(framing);
      if (framing.kind === 'close' || wantsClose(head)) ex.spoiled = true;
      if (framing.kind === 'close') this.closeAfter = true;
      const rebuilt = ex.preflight
        ? preflightResponseHead(head, this.closeAfter)
        : !this.closeAfter && responseHeadIsPortable(head)
          ? undefined
          : buildResponseHead(head, this.closeAfter);
      this.relayResponseStart(ex, up, buf, end, rebuilt);
      return;
    }
  }

  /**
   * Sends the response head (the environment's bytes, or `rebuilt`) and the body bytes that
   * came with it in one write: one TLS record, one syscall, for the common small response.
   */
  private relayResponseStart(ex: Exchange, up: UpstreamConnection, buf: Buffer, headEnd: number, rebuilt: string | undefined): void {
    let end: number;
    try {
      end = ex.responseBody!.take(buf, headEnd);
    } catch {
      this.destroy();
      return;
    }
    let out: Buffer;
    if (ex.preflight) {
      out = Buffer.from(rebuilt!, 'latin1'); // the body stays behind
    } else if (rebuilt === undefined) {
      out = end === buf.length ? buf : buf.subarray(0, end);
    } else {
      out = Buffer.allocUnsafe(rebuilt.length + end - headEnd);
      out.write(rebuilt, 0, 'latin1');
      buf.copy(out, rebuilt.length, headEnd, end);
    }
    if (!(rebuilt === undefined ? this.writeToClient(up, out) : this.socket.write(out))) up.socket.pause();
    if (end < buf.length) ex.spoiled = true; // bytes past the response: out of step
    if (ex.responseBody!.done) this.finishExchange(ex);
    else this.endAtTokenExpiry(ex);
  }

  /** Relays body bytes from `buf[start..]`. */
  private relayBody(ex: Exchange, up: UpstreamConnection, buf: Buffer, start: number): void {
    let end: number;
    try {
      end = ex.responseBody!.take(buf, start);
    } catch {
      this.destroy();
      return;
    }
    if (end > start && !ex.preflight && !this.writeToClient(up, start === 0 && end === buf.length ? buf : buf.subarray(start, end))) up.socket.pause();
    if (end < buf.length) ex.spoiled = true;
    if (ex.responseBody!.done) this.finishExchange(ex);
  }

  /**
   * Writes bytes that came from `up`. A chunk in the shared read buffer is only valid during
   * this call: with nothing queued on the client socket the write goes straight to OpenSSL,
   * which encrypts it before returning; otherwise the stream would keep a reference, so copy.
   */
  private writeToClient(up: UpstreamConnection, chunk: Buffer): boolean {
    const queued = this.socket.writableLength > 0 || this.socket.writableCorked > 0;
    return this.socket.write(up.sharedReads && queued ? Buffer.from(chunk) : chunk);
  }

  private startTunnel(ex: Exchange, up: UpstreamConnection, buf: Buffer): void {
    ex.status = 101;
    this.state = State.Tunnel;
    if (!this.writeToClient(up, buf)) up.socket.pause();
    this.socket.setTimeout(this.ctx.webSocketIdleTimeoutMs);
    up.socket.setTimeout(this.ctx.webSocketIdleTimeoutMs);
    this.logExchange(ex);
    this.endAtTokenExpiry(ex);
    const pending = this.buf;
    this.buf = undefined;
    if (pending && !up.socket.write(pending)) this.pause();
    else this.resume();
  }

  /**
   * Cuts the connection when the token that admitted `ex` expires while it is still relayed, in
   * either direction. HTTP/1.1 has no way to present a fresh token mid-tunnel, nor to signal an error mid-body: the
   * client sees the connection end without a TLS close_notify (a chunked or sized body short of
   * its end), the environment a request body short of its end, and the client comes back with a new
   * token. A response that starts while its request is uploading keeps the upload's timer.
   */
  private endAtTokenExpiry(ex: Exchange): void {
    if (ex.tokenExpiresAt === 0 || this.tokenExpiry !== undefined) return;
    this.tokenExpiry = setTimeout(() => {
      this.tokenExpiry = undefined;
      this.logExchange(ex, 'token-expired');
      this.destroy();
    }, Math.max(0, ex.tokenExpiresAt - Date.now()));
  }

  private clearTokenExpiry(): void {
    clearTimeout(this.tokenExpiry);
    this.tokenExpiry = undefined;
  }

  private finishExchange(ex: Exchange): void {
    this.clearTokenExpiry();
    this.logExchange(ex);
    const up = ex.upstream;
    ex.upstream = undefined;
    if (up) {
      if (ex.spoiled || !ex.requestBody.done) this.ctx.pool.discard(up);
      else this.ctx.pool.release(up);
    }
    if (!ex.requestBody.done) this.closeAfter = true;
    this.exchange = undefined;
    this.lease.end();
    if (this.closeAfter) {
      this.state = State.Closed;
      this.socket.end();
      return;
    }
    this.readNextHead();
  }

  /** Between requests: the next pipelined head, or more bytes once the client has taken our answers. */
  private readNextHead(): void {
    this.state = State.Head;
    this.headStartedAt = this.buf ? Date.now() : 0;
    if (this.socket.writableNeedDrain) {
      this.pause(); // onClientDrain goes on
      return;
    }
    this.resume();
    if (this.buf) this.processHeads();
  }

  onUpstreamDrain(up: UpstreamConnection): void {
    // In Response state the client stays paused: what it sends then only waits in `buf`.
    if (this.exchange?.upstream === up && (this.state === State.Body || this.state === State.Tunnel)) this.resume();
  }

  private onClientDrain(): void {
    if (this.state === State.Head) {
      this.resume();
      if (this.buf) this.processHeads();
      return;
    }
    const up = this.exchange?.upstream;
    if (up && up.socket.isPaused()) up.socket.resume();
  }

  onUpstreamClose(up: UpstreamConnection, error: Error | undefined): void {
    const ex = this.exchange;
    if (!ex || ex.upstream !== up || this.state === State.Closed) return;
    ex.upstream = undefined;
    if (this.state === State.Tunnel) {
      this.socket.end();
      this.state = State.Closed;
      this.lease.end();
      return;
    }
    if (ex.responseBody?.framing.kind === 'close') {
      this.finishExchange(ex);
      return;
    }
    if (!ex.responseStarted) {
      // A kept-alive connection the environment had just closed: try once more on a new one, if
      // running the request twice is harmless (the environment may have acted on it before closing).
      if (up.uses > 0 && !ex.retried && ex.requestBody.framing.kind === 'none' && IDEMPOTENT_METHODS.has(ex.head.method)) {
        ex.retried = true;
        this.sendUpstream(ex, true);
        return;
      }
      const code = (error as NodeJS.ErrnoException | undefined)?.code;
      this.upstreamFailed(ex, 502, `The environment is not answering on port ${ex.port}${code ? ` (${code})` : ''}.`, 'upstream-unreachable');
      return;
    }
    if (!ex.responseBody) this.upstreamFailed(ex, 502, 'The environment closed the connection mid-response.', 'upstream-closed');
    else this.destroy();
  }

  onUpstreamTimeout(up: UpstreamConnection): void {
    const ex = this.exchange;
    if (!ex || ex.upstream !== up) return;
    if (this.state === State.Tunnel) {
      this.destroy();
      return;
    }
    if (ex.responseBody) this.destroy();
    else this.upstreamFailed(ex, 504, `The environment did not answer in time on port ${ex.port}.`, 'upstream-timeout');
  }

  private upstreamFailed(ex: Exchange, status: number, message: string, reason: string): void {
    const up = ex.upstream;
    ex.upstream = undefined;
    if (up) this.ctx.pool.discard(up);
    if (ex.status !== 0) {
      this.destroy(); // part of a response already went out
      return;
    }
    this.respondLocally(ex, status, message, reason, !ex.requestBody.done);
    if (this.state === State.Head) this.readNextHead(); // requests pipelined behind this one
  }

  private respondLocally(ex: Exchange | undefined, status: number, message: string, reason: string, close: boolean): void {
    const isHead = ex?.head.method === 'HEAD';
    this.respondRaw(ex, status, htmlResponse(status, message, { close: close || this.closeAfter, head: isHead, reason }), reason, close);
  }

  private respondRaw(ex: Exchange | undefined, status: number, response: string, reason: string, close: boolean): void {
    if (this.state === State.Closed) return;
    this.socket.write(response, 'latin1');
    if (ex) {
      this.clearTokenExpiry(); // an upload answered before its end (400, 502, 504) is logged once, not again at the expiry
      ex.status = status;
      this.logExchange(ex, reason);
      if (ex.upstream) this.ctx.pool.discard(ex.upstream);
    } else {
      // No readable head (too large, malformed, too slow): still one log line for the attempt.
      this.ctx.log.write({ time: isoNow(), client: this.clientIp, host: '', method: '', path: '', status, durationMs: 0, reason });
    }
    this.exchange = undefined;
    this.lease.end();
    if (close || this.closeAfter) {
      this.state = State.Closed;
      this.socket.end();
      return;
    }
    this.state = State.Head;
    this.headStartedAt = this.buf ? Date.now() : 0;
  }

  private logExchange(ex: Exchange, reason?: string): void {
    const target = ex.head.target;
    const q = target.indexOf('?');
    this.ctx.log.write({
      time: isoNow(),
      client: this.clientIp,
      subject: ex.principal?.subject,
      organization: ex.principal?.organization,
      host: stripPortOf(ex.host),
      hostId: ex.hostId,
      port: ex.port,
      method: ex.head.method,
      path: q < 0 ? target : target.slice(0, q),
      status: ex.status,
      durationMs: Math.round((performance.now() - ex.started) * 1000) / 1000,
      reason,
    });
  }

  /**
   * A new route table may narrow a port (public to organization or private, or another owner)
   * while this connection relays a request, a response or a tunnel of it: what the port no longer
   * admits ends now, as at token expiry (access is otherwise decided per request, so only what is
   * in progress needs this). What was admitted as public ends once the port is not public, token
   * or not (it was admitted without the token's expiry and origin rules: the client comes back and
   * is decided again); what a token admitted ends once its principal is not admitted, and whatever
   * a port relays ends once the port is gone from the table (unpublished, or its host revoked). An
   * anonymous preflight is left to finish.
   */
  recheckAccess(routes: RouteIndex): void {
    const ex = this.exchange;
    if (!ex || ex.preflight || this.state === State.Head || this.state === State.Closed) return;
    const route = routes.lookup({ hostId: ex.hostId, port: ex.port });
    if (route?.port.access === 'public') return;
    if (route && ex.tokenExpiresAt !== 0 && isAllowed(route.port.access, route.entry.owner, ex.principal)) return;
    this.logExchange(ex, 'access-changed');
    this.destroy();
  }

  private onClientTimeout(): void {
    // Waiting for a slow environment is the upstream timeout's business, not the client's.
    if (this.state === State.Response && this.exchange?.upstream) return;
    if (this.state === State.Head && this.headStartedAt !== 0) this.timeOutHead();
    else this.destroy();
  }

  private onClientEnd(): void {
    if (this.state === State.Tunnel) {
      this.exchange?.upstream?.socket.end();
      return;
    }
    // The client sent all it will send: answer what is in flight, then close.
    this.closeAfter = true;
    if (this.state === State.Head && !this.exchange) {
      this.state = State.Closed;
      this.socket.end();
    }
  }

  private onClientClose(): void {
    this.clearTokenExpiry();
    const ex = this.exchange;
    const wasOpen = this.state !== State.Closed;
    this.state = State.Closed;
    this.exchange = undefined;
    if (ex?.upstream) {
      this.ctx.pool.discard(ex.upstream);
      if (wasOpen && ex.status !== 101) {
        ex.status = ex.status || 499;
        this.logExchange(ex, 'client-closed');
      }
    }
  }

  destroy(): void {
    this.state = State.Closed;
    const up = this.exchange?.upstream;
    if (up) this.ctx.pool.discard(up);
    this.socket.destroy();
  }
}

function stripPortOf(host: string): string {
  const colon = host.lastIndexOf(':');
  return colon >= 0 && !host.endsWith(']') ? host.slice(0, colon) : host;
}
