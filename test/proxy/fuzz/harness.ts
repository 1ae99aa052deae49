import { type AddressInfo, connect as netConnect, createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { proxyHostName, type RouteTable } from '../../../src/mesh/routes';
import { MemoryAccessLog } from '../../../src/proxy/access-log';
import { StaticRouteSource } from '../../../src/proxy/route-source';
import { ProxyServer } from '../../../src/proxy/server';
import { makeTlsFixture, tempDir, testSigner } from '../support';
import { HTTPParser, type LlhttpParser, methods, RawResponder, readResponses, RequestOracle, type SeenMessage, type SeenResponse, type SeenStream, splitPoints } from './oracle';

/**
 * The differential harness: the real `gateway proxy` (ProxyServer, TLS on loopback, a test CA)
 * in front of recording environments, and llhttp (Node's parser, strict) as the reference.
 *
 * Requests: each case comes from its own loopback address (127.x.y.z), so the environment can
 * tell by `X-Forwarded-For` which case every request it framed belongs to, even on a pooled
 * connection shared by cases running side by side. The environment is a raw TCP server that
 * frames what it receives with llhttp itself and answers each complete request.
 *
 * Responses: a raw environment sends each case's bytes; what a client reads through the proxy
 * is compared with what llhttp's response parser (the one `http.request` runs) reads from the
 * same bytes directly.
 */

const DOMAIN = 'fuzz.test';

/** What the environment saw from one case. */
interface Upstream {
  messages: SeenMessage[];
  errors: string[];
  /** The bytes the environment received while framing this case's requests, for failure reports. */
  received?: string;
}

export interface Verdict {
  ok: boolean;
  problem?: string;
  /** Requests that reached the environment, or responses that reached the client (not the proxy's 502). */
  passed: number;
}

/** Streams a parser-driven count of complete responses, to know when a case is answered. */
function responseCounter(onComplete: () => void): LlhttpParser {
  const parser = new HTTPParser();
  parser.initialize(HTTPParser.RESPONSE, {}, 0, 0);
  parser[HTTPParser.kOnHeadersComplete] = () => 0;
  parser[HTTPParser.kOnMessageComplete] = onComplete;
  return parser;
}

const sameMessage = (a: SeenMessage, b: SeenMessage) => a.method === b.method && a.url === b.url;

export class DifferentialHarness {
  private readonly tmp = tempDir('proxy-fuzz-');
  private proxy!: ProxyServer;
  private proxyPort = 0;
  private ca = '';
  private readonly oracle = new RequestOracle();
  private readonly responder = new RawResponder();
  private environment!: NetServer;
  private readonly byClient = new Map<string, Upstream>();
  /** Requests the environment could not attribute to a case: always a failure. */
  readonly strays: string[] = [];
  requestHost = '';
  private responseHost = '';
  private nextAddress = 0;
  private readonly retired: string[] = [];

  async start(): Promise<void> {
    const tls = makeTlsFixture(this.tmp.dir, DOMAIN);
    this.ca = tls.ca;
    this.environment = createNetServer((socket) => this.onEnvironmentConnection(socket));
    await new Promise<void>((r) => this.environment.listen(0, '127.0.0.1', () => r()));
    await this.oracle.start();
    await this.responder.start();
    const envPort = (this.environment.address() as AddressInfo).port;
    this.requestHost = proxyHostName(envPort, 'fz', DOMAIN);
    this.responseHost = proxyHostName(this.responder.port, 'fz', DOMAIN);
    const table: RouteTable = {
      version: '1',
      routes: [
        {
          hostId: 'fz',
          ip: '127.0.0.1',
          owner: { subject: 'fuzz', organization: 'fuzz' },
          ports: [
            { port: envPort, access: 'public', protocol: 'http' },
            { port: this.responder.port, access: 'public', protocol: 'http' },
          ],
        },
      ],
    };
    this.proxy = new ProxyServer({
      domain: DOMAIN,
      tls: { cert: tls.cert, key: tls.key },
      routes: new StaticRouteSource(table),
      tokenPublicKey: testSigner().publicKey,
      accessLog: new MemoryAccessLog(),
      onError: () => {},
      upstreamTimeoutMs: 2000,
    });
    this.proxyPort = (await this.proxy.listen(0, '127.0.0.1')).port;
  }

  async close(): Promise<void> {
    await this.proxy?.close();
    await this.oracle.close();
    await this.responder.close();
    await new Promise((r) => this.environment?.close(r));
    this.tmp.cleanup();
  }

  /** The environment: llhttp frames what the proxy sent; each complete request gets a small answer. */
  private onEnvironmentConnection(socket: Socket): void {
    const parser = new HTTPParser();
    parser.initialize(HTTPParser.REQUEST, {}, 0, 0);
    let pending: string[] = [];
    let pendingUrl = '';
    let current: { upstream: Upstream; message: SeenMessage; body: Buffer[]; close: boolean } | undefined;
    // A request nobody sent is held against the case that last used this connection.
    let last: Upstream | undefined;
    // llhttp hands over a head that arrived in pieces partly here, partly at headers-complete.
    parser[HTTPParser.kOnHeaders] = (headers: string[], url: string) => {
      pending = pending.concat(headers);
      pendingUrl += url;
    };
    parser[HTTPParser.kOnHeadersComplete] = (
      _major: number,
      minor: number,
      headers: string[] | undefined,
      method: number,
      url: string,
      _status: number,
      _reason: string,
      _upgrade: boolean,
      keepAlive: boolean,
    ) => {
      // As Node's own parserOnHeadersComplete: what was flushed earlier stands in for what is missing.
      const all = headers ?? pending;
      const target = url || pendingUrl;
      pending = [];
      pendingUrl = '';
      const forwardedFor = all.filter((_, i) => i % 2 === 0 && all[i].toLowerCase() === 'x-forwarded-for').length;
      const client = all[all.findIndex((v, i) => i % 2 === 0 && v.toLowerCase() === 'x-forwarded-for') + 1];
      const upstream = forwardedFor === 1 ? this.byClient.get(client) : undefined;
      const message: SeenMessage = { method: methods[method], url: target };
      if (!upstream) {
        (last?.errors ?? this.strays).push(`the environment framed a request no case sent: ${message.method} ${JSON.stringify(target)} (X-Forwarded-For x${forwardedFor})`);
        socket.destroy();
        return 0;
      }
      upstream.messages.push(message);
      last = upstream;
      current = { upstream, message, body: [], close: !keepAlive || minor === 0 };
      return 0;
    };
    parser[HTTPParser.kOnBody] = (chunk: Buffer) => {
      current?.body.push(Buffer.from(chunk));
    };
    parser[HTTPParser.kOnMessageComplete] = () => {
      // Trailers arrive through kOnHeaders too (with the target again), as in Node's parserOnMessageComplete.
      pending = [];
      pendingUrl = '';
      if (!current) return;
      current.message.body = Buffer.concat(current.body).toString('latin1');
      const answer = current.message.method === 'HEAD' ? '' : 'ok';
      socket.write(`HTTP/1.1 200 OK\r\nContent-Length: 2\r\n${current.close ? 'Connection: close\r\n' : ''}\r\n${answer}`);
      if (current.close) socket.end();
      current = undefined;
    };
    socket.on('error', () => {});
    socket.on('data', (chunk: Buffer) => {
      const named = /\r\nX-Forwarded-For: ([0-9.]+)\r\n/.exec(chunk.toString('latin1'));
      const receiver = (named ? this.byClient.get(named[1]) : undefined) ?? current?.upstream;
      if (receiver) receiver.received = (receiver.received ?? '') + chunk.toString('latin1');
      const ret = parser.execute(chunk);
      if (typeof ret !== 'number') {
        // Refused in a head: the proxy's own X-Forwarded-For in the raw bytes still names the case.
        const who = current?.upstream ?? (named ? this.byClient.get(named[1]) : undefined);
        (who?.errors ?? this.strays).push(`the environment's llhttp refused what the proxy sent: ${ret.code}`);
        socket.destroy();
      }
    });
    socket.on('close', () => parser.close());
  }

  /**
   * Forgets a case's address only long after it ran: a request that reaches the environment late
   * (a loaded machine) is still counted against its own case instead of looking like a stray.
   */
  private retire(address: string): void {
    this.retired.push(address);
    if (this.retired.length > 5000) this.byClient.delete(this.retired.shift()!);
  }

  /** A loopback address of its own for each case (127.1.0.1 … 127.254.255.254, never .0 or .255). */
  private clientAddress(): string {
    const n = this.nextAddress++ % (254 * 256 * 254);
    return `127.${1 + Math.floor(n / (256 * 254))}.${Math.floor(n / 254) % 256}.${1 + (n % 254)}`;
  }

  /**
   * Sends `bytes` to the proxy and to llhttp; returns a check to run once the environment has
   * settled (the caller runs it a little later, so late requests are still counted).
   */
  async requestCase(bytes: Buffer): Promise<() => Verdict> {
    const expected = await this.oracle.parse(bytes);
    const address = this.clientAddress();
    const upstream: Upstream = { messages: [], errors: [] };
    this.byClient.set(address, upstream);
    const completes = expected.messages.filter((m) => m.body !== undefined).length;
    await this.sendThroughProxy(bytes, address, completes);
    this.retire(address);
    return () => {
      const verdict = compareRequests(expected, upstream, this.requestHost);
      if (!verdict.ok && upstream.received) verdict.problem += `; the environment received ${JSON.stringify(upstream.received.slice(0, 4000))}`;
      return verdict;
    };
  }

  /** Writes `bytes` over TLS from `address`; waits until `answers` responses came back or the proxy closed. */
  private sendThroughProxy(bytes: Buffer, address: string, answers: number): Promise<void> {
    return new Promise((resolve) => {
      let received = 0;
      let finished = false;
      const tcp = netConnect({ host: '127.0.0.1', port: this.proxyPort, localAddress: address });
      tcp.on('error', () => {});
      const socket = tlsConnect({ socket: tcp, ca: this.ca, servername: this.requestHost }, () => {
        // In up to three TLS records, so heads and chunk lines also arrive cut in two.
        const pieces = splitPoints(bytes).map((at, i, all) => bytes.subarray(at, all[i + 1] ?? bytes.length));
        const send = () => {
          if (finished) return;
          const piece = pieces.shift();
          if (piece) socket.write(piece);
          if (pieces.length > 0) setImmediate(send);
          // Nothing more will come from llhttp's point of view; a proxy waiting for more is cut off.
          else timer = setTimeout(finish, answers === 0 ? 150 : 1500);
        };
        send();
      });
      let timer: NodeJS.Timeout | undefined;
      const finish = () => {
        if (finished) return;
        finished = true;
        clearTimeout(timer);
        socket.destroy();
        resolve();
      };
      const counter = responseCounter(() => {
        if (++received >= answers && answers > 0) setTimeout(finish, 5);
      });
      socket.on('data', (c: Buffer) => {
        if (typeof counter.execute(c) !== 'number') finish();
      });
      socket.on('error', finish);
      socket.on('close', finish);
    });
  }

  /** One response case: `bytes` from the environment, read directly and through the proxy. */
  async responseCase(id: string, bytes: Buffer, method: 'GET' | 'HEAD' = 'GET'): Promise<Verdict> {
    this.responder.set(id, bytes);
    try {
      return compareResponses(readResponses(bytes, method), readResponses(await this.fetchThroughProxy(id, method), method));
    } finally {
      this.responder.delete(id);
    }
  }

  /** The raw bytes a client gets for `GET /r/<id>` (or HEAD) through the proxy, to the connection's close. */
  private fetchThroughProxy(id: string, method: 'GET' | 'HEAD'): Promise<Buffer> {
    return new Promise((resolve) => {
      const chunks: Buffer[] = [];
      const socket = tlsConnect({ host: '127.0.0.1', port: this.proxyPort, ca: this.ca, servername: this.responseHost }, () => {
        socket.write(`${method} /r/${id} HTTP/1.1\r\nHost: ${this.responseHost}\r\nConnection: close\r\n\r\n`);
      });
      socket.on('data', (c: Buffer) => chunks.push(c));
      socket.on('error', () => {});
      socket.on('close', () => resolve(Buffer.concat(chunks)));
    });
  }
}

/**
 * The proxy may refuse more than llhttp, never less: every request the environment framed from a
 * case must be one llhttp framed from the client's bytes (same method, target and body), in the
 * same order; the proxy may answer some itself (an unknown host, say) and forward the rest. And
 * llhttp must accept every byte the proxy sent on.
 */
export function compareRequests(expected: SeenStream, upstream: Upstream, host: string): Verdict {
  const passed = upstream.messages.length;
  if (upstream.errors.length > 0) return { ok: false, problem: upstream.errors.join('; '), passed };
  const want = expected.messages.map((m) => ({ ...m, url: originFormOf(m.url, host) }));
  let j = 0;
  for (const [i, got] of upstream.messages.entries()) {
    while (j < want.length && !(sameMessage(got, want[j]) && (got.body === undefined || got.body === want[j].body))) j++;
    if (j === want.length) {
      const framed = want.map((m) => `${m.method} ${JSON.stringify(m.url)} ${JSON.stringify(m.body ?? '(incomplete)')}`).join(', ');
      return {
        ok: false,
        passed,
        problem:
          `request ${i + 1} at the environment, ${got.method} ${JSON.stringify(got.url)} ${JSON.stringify(got.body ?? '(incomplete)')}, ` +
          `is not one llhttp framed (${framed || 'none'}${expected.error ? `; then ${expected.error}` : ''})`,
      };
    }
    j++;
  }
  return { ok: true, passed };
}

/** llhttp keeps an absolute-form target; the proxy passes it on in origin-form. */
function originFormOf(url: string, host: string): string {
  const m = /^https?:\/\/([^/?]*)(.*)$/i.exec(url);
  if (!m || m[1].toLowerCase() !== host.toLowerCase()) return url;
  return m[2] === '' ? '/' : m[2].startsWith('?') ? `/${m[2]}` : m[2];
}

/** The proxy's own 502/504 page (its Content-Security-Policy marks it; an environment's cases never send one). */
const isProxyRefusal = (r: SeenResponse) => r.complete && (r.status === 502 || r.status === 504) && (r.headers ?? []).includes('content-security-policy');

/**
 * A response read through the proxy must be one llhttp reads the same way directly, or the
 * proxy's 502, or a dropped connection: never a response llhttp would refuse or frame otherwise.
 */
export function compareResponses(direct: SeenResponse, proxied: SeenResponse): Verdict {
  // Cut short (the proxy dropped the connection) is fine; unreadable, or a second response, is not.
  if (proxied.error && proxied.error !== 'HPE_INVALID_EOF_STATE') return { ok: false, passed: 1, problem: `llhttp refused what the proxy sent: ${proxied.error}` };
  if (proxied.errorAfter || proxied.finals > 1) return { ok: false, passed: 1, problem: `the proxy sent more than one response (${proxied.errorAfter ?? proxied.finals})` };
  if (!proxied.complete || isProxyRefusal(proxied)) return { ok: true, passed: 0 };
  if (!direct.complete) {
    return { ok: false, passed: 1, problem: `the proxy passed on a ${proxied.status} response llhttp refuses (${direct.error ?? 'incomplete'})` };
  }
  if (direct.status !== proxied.status) return { ok: false, passed: 1, problem: `status ${proxied.status} through the proxy, ${direct.status} directly` };
  if (direct.body !== proxied.body) return { ok: false, passed: 1, problem: `body ${JSON.stringify(proxied.body)} through the proxy, ${JSON.stringify(direct.body)} directly` };
  if (JSON.stringify(direct.headers) !== JSON.stringify(proxied.headers)) {
    return { ok: false, passed: 1, problem: `headers ${JSON.stringify(proxied.headers)} through the proxy, ${JSON.stringify(direct.headers)} directly` };
  }
  return { ok: true, passed: 1 };
}
