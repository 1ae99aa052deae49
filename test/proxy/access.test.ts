import { createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import WebSocket, { WebSocketServer } from 'ws';
import { mintAccessToken } from '../../src/mesh/access-token';
import { proxyHostName, type RouteTable } from '../../src/mesh/routes';
import { MemoryAccessLog } from '../../src/proxy/access-log';
import { StaticRouteSource } from '../../src/proxy/route-source';
import { ProxyServer } from '../../src/proxy/server';
import { echo, eventually, fetchVia, makeTlsFixture, openWebSocket, type Reply, tempDir, testSigner } from './support';

/**
 * The access rules through a real proxy, tried as an attacker would: TLS on loopback, a Node
 * application per access level, a raw TCP "environment" that answers exactly the bytes a hostile
 * or careless application might send, and a sibling environment standing in for the attacker.
 */

const DOMAIN = 'test.local';
const ALICE = { subject: 'alice', organization: 'acme' };
const BOB = { subject: 'bob', organization: 'acme' };
const CAROL = { subject: 'carol', organization: 'globex' };
const COOKIE = '__Host-gateway-token';

/** An application that echoes what it received, and WebSocket messages. */
function startApp(): Promise<{ server: Server; seen: string[] }> {
  const seen: string[] = [];
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      seen.push(`${req.method} ${req.url}`);
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ method: req.method, url: req.url, headers: req.headers, body: Buffer.concat(chunks).toString() }));
    });
  });
  const wss = new WebSocketServer({ server });
  wss.on('connection', (ws) => ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary })));
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ server, seen })));
}

/**
 * An environment that answers every request head with the same raw bytes, chosen by the path,
 * and records the heads (and any stray bytes) it received.
 */
function startRawApp(answers: Record<string, string>): Promise<{ server: NetServer; received: string[] }> {
  const received: string[] = [];
  const server = createNetServer((socket: Socket) => {
    let pending = '';
    socket.on('data', (chunk: Buffer) => {
      pending += chunk.toString('latin1');
      let end: number;
      while ((end = pending.indexOf('\r\n\r\n')) >= 0) {
        const head = pending.slice(0, end);
        pending = pending.slice(end + 4);
        received.push(head);
        const path = head.split(' ')[1].split('?')[0];
        socket.write(answers[path] ?? 'HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n');
      }
      if (pending.length > 0 && !pending.includes('\r\n')) received.push(`stray: ${pending}`);
    });
    socket.on('error', () => {});
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ server, received })));
}

const portOf = (s: Server | NetServer) => (s.address() as AddressInfo).port;

describe('gateway proxy access rules', () => {
  const tmp = tempDir('proxy-access-');
  const tls = makeTlsFixture(tmp.dir, DOMAIN);
  const keys = testSigner();
  const log = new MemoryAccessLog();
  let priv: Awaited<ReturnType<typeof startApp>>;
  let org: Awaited<ReturnType<typeof startApp>>;
  let pub: Awaited<ReturnType<typeof startApp>>;
  let raw: Awaited<ReturnType<typeof startRawApp>>;
  let proxy: ProxyServer;
  let proxyPort: number;
  const tokens: Record<string, string> = {};

  const host = (port: number, hostId = 'h-alice') => proxyHostName(port, hostId, DOMAIN);
  const origin = (port: number, hostId = 'h-alice') => `https://${host(port, hostId)}`;
  const get = (hostName: string, path = '/', options: Parameters<typeof fetchVia>[4] = {}): Promise<Reply> =>
    fetchVia(proxyPort, tls.ca, hostName, path, options);

  beforeAll(async () => {
    [priv, org, pub] = [await startApp(), await startApp(), await startApp()];
    raw = await startRawApp({
      '/leak':
        'HTTP/1.1 103 Early Hints\r\nLink: </secret-hint>; rel=preload\r\n\r\n' +
        'HTTP/1.1 200 Private Data\r\nAccess-Control-Allow-Origin: https://ui.example\r\nAccess-Control-Allow-Methods: POST\r\n' +
        'Vary: Origin\r\nSet-Cookie: session=secret-session\r\nX-Secret: secret-header\r\nContent-Type: text/plain\r\nContent-Length: 11\r\n\r\nsecret-body',
      '/switch': 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\nsecret-tunnel',
    });
    const table: RouteTable = {
      version: '1',
      routes: [
        {
          hostId: 'h-alice',
          ip: '127.0.0.1',
          owner: ALICE,
          ports: [
            { port: portOf(priv.server), access: 'private', protocol: 'http' },
            { port: portOf(org.server), access: 'organization', protocol: 'http' },
            { port: portOf(pub.server), access: 'public', protocol: 'http' },
            { port: portOf(raw.server), access: 'private', protocol: 'http' },
          ],
        },
        // The attacker's own environment: a public page whose origin a victim's browser would send.
        { hostId: 'h-mallory', ip: '127.0.0.1', owner: CAROL, ports: [{ port: portOf(pub.server), access: 'public', protocol: 'http' }] },
      ],
    };
    proxy = new ProxyServer({
      domain: DOMAIN,
      tls: { cert: tls.cert, key: tls.key },
      routes: new StaticRouteSource(table),
      tokenPublicKey: keys.publicKey,
      accessLog: log,
      onError: () => {},
    });
    await proxy.ready();
    proxyPort = (await proxy.listen(0, '127.0.0.1')).port;
    const mint = (principal: typeof ALICE, ttlSeconds = 600, now?: Date) => mintAccessToken({ signer: keys.signer, principal, ttlSeconds, now });
    tokens.alice = await mint(ALICE);
    tokens.bob = await mint(BOB);
    tokens.carol = await mint(CAROL);
    tokens.expired = await mint(ALICE, 60, new Date(Date.now() - 3600_000));
  });

  afterAll(async () => {
    await proxy?.close();
    for (const s of [priv?.server, org?.server, pub?.server]) {
      s?.closeAllConnections();
      await new Promise((r) => s?.close(r));
    }
    await new Promise((r) => raw?.server.close(r));
    tmp.cleanup();
  });

  describe('anonymous CORS preflights', () => {
    const preflightHead = (path: string, extra = '') =>
      `OPTIONS ${path} HTTP/1.1\r\nHost: ${host(portOf(raw.server))}\r\nOrigin: https://ui.example\r\nAccess-Control-Request-Method: POST\r\n${extra}`;

    it('return only the status and the Access-Control-*/Vary headers: no body, cookie, hint or reason text', async () => {
      raw.received.length = 0;
      // Pipelined: the connection must stay in step after the dropped body.
      const bytes = `${preflightHead('/leak')}\r\n${preflightHead('/leak', 'Connection: close\r\n')}\r\n`;
      const answer = await rawExchange(proxyPort, tls.ca, host(portOf(raw.server)), bytes);
      const responses = answer.split(/(?=HTTP\/1\.1 )/);
      expect(responses).toHaveLength(2);
      for (const response of responses) {
        const [head, body] = response.split('\r\n\r\n');
        const lines = head.split('\r\n');
        expect(lines[0]).toBe('HTTP/1.1 200 OK');
        const names = lines.slice(1).map((l) => l.split(':')[0].toLowerCase());
        expect(names.filter((n) => n !== 'connection')).toEqual(['access-control-allow-origin', 'access-control-allow-methods', 'vary', 'content-length']);
        expect(head).toContain('\r\nContent-Length: 0');
        expect(body).toBe('');
      }
      expect(answer).not.toMatch(/secret|Private Data|103/);
      expect(raw.received).toHaveLength(2);
      expect(raw.received[0]).toMatch(/^OPTIONS \/leak HTTP\/1\.1\r\n/);
    });

    it('are refused with a body (Content-Length or chunked), which never reaches the application', async () => {
      raw.received.length = 0;
      for (const framing of ['Content-Length: 5\r\n\r\nhello', 'Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n', 'Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n']) {
        const answer = await rawExchange(proxyPort, tls.ca, host(portOf(raw.server)), `${preflightHead('/leak')}${framing}`);
        expect({ framing, status: answer.slice(0, 12) }).toEqual({ framing, status: 'HTTP/1.1 400' });
      }
      // A bodiless one still goes through, so the refusals above were about the body.
      const ok = await rawExchange(proxyPort, tls.ca, host(portOf(raw.server)), `${preflightHead('/leak', 'Content-Length: 0\r\nConnection: close\r\n')}\r\n`);
      expect(ok).toMatch(/^HTTP\/1\.1 200 /);
      expect(raw.received).toHaveLength(1);
    });

    it('cannot be turned into a tunnel: a 101 answer to a preflight is a 502', async () => {
      const answer = await rawExchange(
        proxyPort,
        tls.ca,
        host(portOf(raw.server)),
        `${preflightHead('/switch', 'Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nConnection: close\r\n')}\r\n`,
      );
      expect(answer).toMatch(/^HTTP\/1\.1 502 /);
      expect(answer).not.toContain('secret-tunnel');
    });
  });

  describe('the ?gateway_token= cookie redirect', () => {
    it('stays on the host whatever the path looks like', async () => {
      const h = host(portOf(priv.server));
      const q = `gateway_token=${tokens.alice}`;
      for (const [target, location] of [
        [`//evil.example/x?${q}`, '/'],
        [`/\\evil.example/x?${q}`, '/'],
        [`/ok/path?a=1&${q}`, '/ok/path?a=1'],
      ]) {
        const reply = await get(h, target);
        expect({ target, status: reply.status, location: reply.headers.location }).toEqual({ target, status: 302, location });
        expect(reply.headers['set-cookie']?.[0]).toMatch(/^__Host-gateway-token=/);
      }
    });

    it('plants only a token that may use the port: others get 403 and no cookie', async () => {
      for (const [who, hostName] of [
        ['carol', host(portOf(priv.server))],
        ['bob', host(portOf(priv.server))],
        ['carol', host(portOf(org.server))],
      ] as const) {
        const reply = await get(hostName, `/?gateway_token=${tokens[who]}`);
        expect({ who, hostName, status: reply.status, cookie: reply.headers['set-cookie'] }).toEqual({ who, hostName, status: 403, cookie: undefined });
        expect(reply.body).not.toContain(tokens[who].split('.')[2]);
      }
      const member = await get(host(portOf(org.server)), `/?gateway_token=${tokens.bob}`);
      expect(member.status).toBe(302);
    });
  });

  describe('environments are cross-site to each other', () => {
    const cookie = (who = 'alice') => `${COOKIE}=${tokens[who]}`;

    it('refuses a cookie-only POST from a sibling environment before it reaches the application', async () => {
      const before = priv.seen.length;
      const reply = await get(host(portOf(priv.server)), '/transfer', {
        method: 'POST',
        headers: { cookie: cookie(), origin: origin(portOf(pub.server), 'h-mallory'), 'sec-fetch-site': 'same-site' },
        body: 'amount=100',
      });
      expect(reply.status).toBe(403);
      expect(reply.headers['access-control-allow-origin']).toBeUndefined();
      expect(reply.body).toContain('another site');
      expect(priv.seen.slice(before)).toEqual([]);
    });

    it('accepts the same POST from any port of the same environment, and a header token from anywhere', async () => {
      const same = await get(host(portOf(priv.server)), '/transfer', {
        method: 'POST',
        headers: { cookie: cookie(), origin: origin(portOf(pub.server)) },
        body: 'a=1',
      });
      expect(same.status).toBe(200);
      expect(JSON.parse(same.body).headers.cookie).toBeUndefined();
      const header = await get(host(portOf(priv.server)), '/transfer', {
        method: 'POST',
        headers: { 'x-gateway-token': tokens.alice, origin: origin(portOf(pub.server), 'h-mallory') },
        body: 'a=1',
      });
      expect(header.status).toBe(200);
      const program = await get(host(portOf(priv.server)), '/transfer', { method: 'POST', headers: { cookie: cookie() }, body: 'a=1' });
      expect(program.status).toBe(403);
    });

    it('refuses a cookie-only WebSocket from a sibling environment, accepts it from the same one', async () => {
      const h = host(portOf(priv.server));
      const refused = await openWebSocket(proxyPort, tls.ca, h, { cookie: cookie(), origin: origin(portOf(pub.server), 'h-mallory') }).catch((e: Error) => e);
      expect(refused).toBeInstanceOf(Error);
      expect((refused as Error).message).toMatch(/403/);
      const ws = await openWebSocket(proxyPort, tls.ca, h, { cookie: cookie(), origin: origin(portOf(org.server)) });
      expect(await echo(ws, 'hi')).toBe('hi');
      ws.close();
    });
  });

  describe("the proxy's own answers", () => {
    it('401 and 403 are readable (CORS) from the same environment only', async () => {
      const h = host(portOf(priv.server));
      const same = origin(portOf(pub.server));
      const unauth = await get(h, '/api', { headers: { origin: same } });
      expect(unauth.status).toBe(401);
      expect(unauth.headers).toMatchObject({ 'access-control-allow-origin': same, 'access-control-allow-credentials': 'true', vary: 'Origin' });
      const forbidden = await get(h, '/api', { headers: { origin: same, 'x-gateway-token': tokens.carol } });
      expect(forbidden.status).toBe(403);
      expect(forbidden.headers['access-control-allow-origin']).toBe(same);
      const sibling = await get(h, '/api', { headers: { origin: origin(portOf(pub.server), 'h-mallory') } });
      expect(sibling.status).toBe(401);
      expect(sibling.headers['access-control-allow-origin']).toBeUndefined();
    });

    it('pages carry a strict CSP, no script, and never echo a token', async () => {
      const h = host(portOf(priv.server));
      const replies = [
        await get(h, `/x?gateway_token=${tokens.expired}`),
        await get(h, '/x', { headers: { cookie: `${COOKIE}=${tokens.carol}` } }),
        await get(h, '/x', { headers: { authorization: `Bearer ${tokens.expired}` } }),
        await get(host(1), '/'),
      ];
      expect(replies.map((r) => r.status)).toEqual([401, 403, 401, 404]);
      for (const reply of replies) {
        expect(reply.headers['content-security-policy']).toMatch(/^default-src 'none'; style-src 'sha256-[A-Za-z0-9+/]+=*'; form-action 'self'; frame-ancestors 'none'/);
        expect(reply.headers['referrer-policy']).toBe('no-referrer');
        expect(reply.body).not.toMatch(/<script|<[^>]*\son\w+=|javascript:/i);
        for (const token of Object.values(tokens)) for (const part of token.split('.').slice(1)) expect(reply.body).not.toContain(part);
      }
      expect(replies[0].body).toContain('Your access token has expired');
      expect(replies[1].body).toContain('<b>carol</b> of the organization <b>globex</b>');
    });

    it('sign-out clears the cookie and forwards nothing', async () => {
      const before = priv.seen.length;
      const reply = await get(host(portOf(priv.server)), '/.gateway/sign-out', { method: 'POST', headers: { cookie: `${COOKIE}=${tokens.carol}` } });
      expect(reply.status).toBe(200);
      expect(reply.headers['set-cookie']).toEqual([`${COOKIE}=; Max-Age=0; Path=/; HttpOnly; Secure; SameSite=Lax`]);
      expect(priv.seen.length).toBe(before);
    });
  });

  describe('WebSocket tunnels and token expiry', () => {
    it('end when the token that opened them expires, except on public ports', async () => {
      // The clock is jest's: it runs as usual while the tunnels open (the token has a minute
      // left, however slow the machine), then jumps past the token's expiry; the proxy's tunnel
      // timer and its token checks read that clock, so the order of events is fixed, not timed.
      jest.useFakeTimers({ advanceTimers: true, doNotFake: ['nextTick', 'setImmediate', 'queueMicrotask'] });
      const expiries = () => log.entries.filter((e) => e.reason === 'token-expired' && e.port === portOf(priv.server)).length;
      const earlier = expiries();
      try {
        const short = await mintAccessToken({ signer: keys.signer, principal: ALICE, ttlSeconds: 60 });
        const privateWs = await openWebSocket(proxyPort, tls.ca, host(portOf(priv.server)), { 'x-gateway-token': short });
        const publicWs = await openWebSocket(proxyPort, tls.ca, host(portOf(pub.server)), { 'x-gateway-token': short });
        const closed = new Promise<number>((resolve) => privateWs.on('close', (code) => resolve(code)));
        expect(await echo(privateWs, 'before')).toBe('before');
        expect(expiries()).toBe(earlier);
        jest.advanceTimersByTime(61_000);
        expect(await closed).toBe(1006); // the proxy cut the connection: no close frame mid-stream
        await eventually(() => expiries() > earlier);
        // Same token, same moment, public port: still open after the private one ended.
        expect(publicWs.readyState).toBe(WebSocket.OPEN);
        expect(await echo(publicWs, 'after')).toBe('after');
        publicWs.close();
        // And the expired token opens nothing new.
        await expect(openWebSocket(proxyPort, tls.ca, host(portOf(priv.server)), { 'x-gateway-token': short })).rejects.toThrow(/401/);
      } finally {
        jest.useRealTimers();
      }
    });
  });
});

/** Sends raw bytes over TLS and collects everything until the proxy closes the connection. */
function rawExchange(port: number, ca: string, servername: string, bytes: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ host: '127.0.0.1', port, ca, servername }, () => socket.write(bytes));
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', reject);
    socket.on('close', () => resolve(Buffer.concat(chunks).toString('latin1')));
  });
}
