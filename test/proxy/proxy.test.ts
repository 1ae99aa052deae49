import { writeFileSync, renameSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { Agent, createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { join } from 'node:path';
import WebSocket, { WebSocketServer } from 'ws';
import { mintAccessToken } from '../../src/mesh/access-token';
import { proxyHostName, type RouteTable } from '../../src/mesh/routes';
import { MemoryAccessLog } from '../../src/proxy/access-log';
import { FileRouteSource, StaticRouteSource } from '../../src/proxy/route-source';
import { ProxyServer } from '../../src/proxy/server';
import { echo, eventually, fetchVia, makeTlsFixture, openWebSocket, type Reply, tempDir, testSigner } from './support';

/**
 * The proxy for real: TLS on loopback with a test CA, a route file it watches, and small Node
 * HTTP/WebSocket servers standing in for environments (one per access level).
 */

const DOMAIN = 'test.local';
const ALICE = { subject: 'alice', organization: 'acme' };
const BOB = { subject: 'bob', organization: 'acme' };
const CAROL = { subject: 'carol', organization: 'globex' };

function startApp(tlsOptions?: { cert: string; key: string }): Promise<Server> {
  const handler = (req: IncomingMessage, res: ServerResponse) => {
    if (req.method === 'OPTIONS') {
      res.writeHead(204, {
        'access-control-allow-origin': req.headers.origin ?? '*',
        'access-control-allow-methods': 'GET, POST',
        'x-answered-by': 'app',
      });
      res.end();
      return;
    }
    if (req.url === '/hang') return; // never answers
    if (req.url === '/chunked') {
      res.write('ab');
      setImmediate(() => res.end('c'));
      return;
    }
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = JSON.stringify({ method: req.method, url: req.url, headers: req.headers, body: Buffer.concat(chunks).toString() });
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(body);
    });
  };
  const server: Server = tlsOptions ? createHttpsServer(tlsOptions, handler) : createServer(handler);
  const wss = new WebSocketServer({ server });
  wss.on('connection', (ws) => ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary })));
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

const portOf = (s: Server | ProxyServer | AddressInfo) => ('port' in s ? s.port : ((s as Server).address() as AddressInfo).port);

describe('gateway proxy', () => {
  const tmp = tempDir('proxy-test-');
  const tls = makeTlsFixture(tmp.dir, DOMAIN);
  const keys = testSigner();
  const log = new MemoryAccessLog();
  const routesFile = join(tmp.dir, 'routes.json');
  let apps: { pub: Server; org: Server; priv: Server; tls: Server };
  let deadPort: number;
  let proxy: ProxyServer;
  let proxyPort: number;
  const tokens: Record<string, string> = {};

  const table = (version: string, extra: RouteTable['routes'] = []): RouteTable => ({
    version,
    routes: [
      {
        hostId: 'h-alice',
        ip: '127.0.0.1',
        owner: ALICE,
        ports: [
          { port: portOf(apps.pub), access: 'public', protocol: 'http' },
          { port: portOf(apps.org), access: 'organization', protocol: 'http' },
          { port: portOf(apps.priv), access: 'private', protocol: 'http' },
          { port: deadPort, access: 'public', protocol: 'http' },
          { port: portOf(apps.tls), access: 'public', protocol: 'https' },
        ],
      },
      { hostId: 'h-bob', ip: '127.0.0.1', owner: BOB, ports: [{ port: portOf(apps.pub), access: 'private', protocol: 'http' }] },
      ...extra,
    ],
  });
  const writeRoutes = (t: RouteTable) => {
    // Replaced by rename, as deploy tools do: the watcher must follow it.
    writeFileSync(`${routesFile}.tmp`, JSON.stringify(t));
    renameSync(`${routesFile}.tmp`, routesFile);
  };
  const host = (port: Server | number, hostId = 'h-alice') => proxyHostName(typeof port === 'number' ? port : portOf(port), hostId, DOMAIN);
  const get = (hostName: string, path = '/', options: Parameters<typeof fetchVia>[4] = {}): Promise<Reply> =>
    fetchVia(proxyPort, tls.ca, hostName, path, options);

  beforeAll(async () => {
    apps = { pub: await startApp(), org: await startApp(), priv: await startApp(), tls: await startApp({ cert: tls.cert, key: tls.key }) };
    const dead = createServer();
    await new Promise<void>((r) => dead.listen(0, '127.0.0.1', () => r()));
    deadPort = portOf(dead);
    await new Promise((r) => dead.close(r));
    writeRoutes(table('1'));
    proxy = new ProxyServer({
      domain: DOMAIN,
      tls: { cert: tls.cert, key: tls.key },
      routes: new FileRouteSource(routesFile, { pollIntervalMs: 100 }),
      tokenPublicKey: keys.publicKey,
      accessLog: log,
      onError: () => {},
      maxHeaderBytes: 8192,
    });
    await proxy.ready();
    proxyPort = (await proxy.listen(0, '127.0.0.1')).port;
    const mint = (principal: typeof ALICE, ttlSeconds = 600, now?: Date) => mintAccessToken({ signer: keys.signer, principal, ttlSeconds, now });
    tokens.alice = await mint(ALICE);
    tokens.bob = await mint(BOB);
    tokens.carol = await mint(CAROL);
    tokens.expired = await mint(ALICE, 60, new Date(Date.now() - 3600_000));
    const [h, , sig] = tokens.alice.split('.');
    // Bob's claims under Alice's signature.
    tokens.tampered = `${h}.${tokens.bob.split('.')[1]}.${sig}`;
    tokens.otherKey = await mintAccessToken({ signer: testSigner().signer, principal: ALICE, ttlSeconds: 600 });
  });

  afterAll(async () => {
    await proxy?.close();
    for (const s of Object.values(apps ?? {})) {
      s.closeAllConnections();
      await new Promise((r) => s.close(r));
    }
    tmp.cleanup();
  });

  it('enforces each access level against each kind of token', async () => {
    const expectations: [keyof typeof apps, Record<string, number>][] = [
      ['pub', { none: 200, alice: 200, bob: 200, carol: 200, expired: 200, tampered: 200, otherKey: 200 }],
      ['org', { none: 401, alice: 200, bob: 200, carol: 403, expired: 401, tampered: 401, otherKey: 401 }],
      ['priv', { none: 401, alice: 200, bob: 403, carol: 403, expired: 401, tampered: 401, otherKey: 401 }],
    ];
    for (const [app, byToken] of expectations) {
      for (const [who, status] of Object.entries(byToken)) {
        const headers: Record<string, string> = who === 'none' ? {} : { 'x-gateway-token': tokens[who] };
        const reply = await get(host(apps[app]), '/', { headers });
        expect({ app, who, status: reply.status }).toEqual({ app, who, status });
        if (status === 200) expect(JSON.parse(reply.body).headers['x-gateway-token']).toBeUndefined();
        else expect(reply.headers['content-type']).toBe('text/html; charset=utf-8');
      }
    }
    const expired = await get(host(apps.priv), '/', { headers: { authorization: `Bearer ${tokens.expired}` } });
    expect(expired.body).toContain('expired');
  });

  it('takes the token from Authorization: Bearer and strips it, but passes an application Authorization through', async () => {
    const ours = await get(host(apps.priv), '/x', { headers: { authorization: `Bearer ${tokens.alice}`, cookie: 'session=s1' } });
    expect(ours.status).toBe(200);
    const seen = JSON.parse(ours.body).headers;
    expect(seen.authorization).toBeUndefined();
    expect(seen.cookie).toBe('session=s1');

    const appAuth = 'Bearer app-own.jwt-like.token';
    const theirs = await get(host(apps.pub), '/', { headers: { authorization: appAuth } });
    expect(JSON.parse(theirs.body).headers.authorization).toBe(appAuth);
    // Both at once: the gateway token rides in X-Gateway-Token, the app's own in Authorization.
    const both = await get(host(apps.priv), '/', { headers: { authorization: 'Basic dTpw', 'x-gateway-token': tokens.alice } });
    expect(both.status).toBe(200);
    expect(JSON.parse(both.body).headers.authorization).toBe('Basic dTpw');
  });

  it('adds X-Forwarded-For/Proto/Host, replacing what the client claimed', async () => {
    const reply = await get(host(apps.pub), '/', { headers: { 'x-forwarded-for': '6.6.6.6', 'x-forwarded-host': 'evil.example' } });
    const seen = JSON.parse(reply.body).headers;
    expect(seen['x-forwarded-for']).toBe('127.0.0.1');
    expect(seen['x-forwarded-proto']).toBe('https');
    expect(seen['x-forwarded-host']).toBe(host(apps.pub));
    expect(seen.host).toBe(host(apps.pub));
  });

  it('turns a one-time ?gateway_token= into a host-only cookie and a redirect without it', async () => {
    const path = `/page?a=1&gateway_token=${encodeURIComponent(tokens.alice)}&b=2`;
    const redirect = await get(host(apps.priv), path);
    expect(redirect.status).toBe(302);
    expect(redirect.headers.location).toBe('/page?a=1&b=2');
    const cookie = redirect.headers['set-cookie']![0];
    expect(cookie).toMatch(/^__Host-gateway-token=[^;]+; Max-Age=\d+; Path=\/; HttpOnly; Secure; SameSite=Lax$/);
    expect(cookie).not.toMatch(/Domain=/i);

    const pair = cookie.split(';')[0];
    const followed = await get(host(apps.priv), '/page?a=1&b=2', { headers: { cookie: `theme=dark; ${pair}` } });
    expect(followed.status).toBe(200);
    const seen = JSON.parse(followed.body);
    expect(seen.url).toBe('/page?a=1&b=2');
    expect(seen.headers.cookie).toBe('theme=dark');

    const bad = await get(host(apps.priv), `/page?gateway_token=${tokens.tampered}`);
    expect(bad.status).toBe(401);
    expect(bad.headers['set-cookie']).toBeUndefined();
    // Not a GET: no redirect, the query token is used once and stripped before forwarding.
    const post = await get(host(apps.priv), `/api?gateway_token=${tokens.alice}`, { method: 'POST', body: 'x' });
    expect(post.status).toBe(200);
    expect(JSON.parse(post.body).url).toBe('/api');
  });

  it('lets a CORS preflight reach the application without a token, and returns only its status and CORS headers', async () => {
    const preflight = await get(host(apps.priv), '/api', {
      method: 'OPTIONS',
      headers: { origin: 'https://ui.example', 'access-control-request-method': 'POST' },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers['x-answered-by']).toBeUndefined();
    expect(preflight.headers['access-control-allow-origin']).toBe('https://ui.example');
    const plainOptions = await get(host(apps.priv), '/api', { method: 'OPTIONS' });
    expect(plainOptions.status).toBe(401);
  });

  it('forwards request bodies (length and chunked), chunked responses, and to https ports', async () => {
    const sized = await get(host(apps.pub), '/post', { method: 'POST', body: 'hello body' });
    expect(JSON.parse(sized.body).body).toBe('hello body');
    const chunked = await get(host(apps.pub), '/post', {
      method: 'POST',
      headers: { 'transfer-encoding': 'chunked' },
      body: 'streamed body',
    });
    expect(JSON.parse(chunked.body).body).toBe('streamed body');
    const response = await get(host(apps.pub), '/chunked');
    expect(response.body).toBe('abc');
    const overTls = await get(host(apps.tls), '/over-tls', { method: 'POST', body: 'to an https port' });
    expect(JSON.parse(overTls.body)).toMatchObject({ url: '/over-tls', body: 'to an https port' });
  });

  it('answers unknown hosts with 404 and an environment that is not answering with 502, as HTML pages', async () => {
    for (const name of [host(apps.pub, 'h-nobody'), host(1, 'h-alice'), `www.${DOMAIN}`, 'other.example']) {
      const reply = await get(name, '/', { servername: `x.${DOMAIN}` });
      expect({ name, status: reply.status }).toEqual({ name, status: 404 });
      expect(reply.headers['content-type']).toBe('text/html; charset=utf-8');
      expect(reply.body).toContain('404 Not Found');
    }
    const dead = await get(host(deadPort), '/');
    expect(dead.status).toBe(502);
    expect(dead.body).toContain(`not answering on port ${deadPort}`);
  });

  it('refuses oversize request heads with 431 and malformed framing with 400', async () => {
    const big = await get(host(apps.pub), '/', { headers: { 'x-big': 'x'.repeat(10_000) } });
    expect(big.status).toBe(431);
    await eventually(() => log.entries.some((e) => e.status === 431 && e.reason === 'headers-too-large'));
    const raw = await rawExchange(
      proxyPort,
      tls.ca,
      `POST / HTTP/1.1\r\nHost: ${host(apps.pub)}\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`,
    );
    expect(raw).toMatch(/^HTTP\/1\.1 400 /);
  });

  it('answers pipelined requests in order on one connection', async () => {
    const h = host(apps.pub);
    const raw = await rawExchange(proxyPort, tls.ca, `GET /one HTTP/1.1\r\nHost: ${h}\r\n\r\nGET /two HTTP/1.1\r\nHost: ${h}\r\nConnection: close\r\n\r\n`);
    const urls = [...raw.matchAll(/"url":"(\/\w+)"/g)].map((m) => m[1]);
    expect(urls).toEqual(['/one', '/two']);
    expect(raw.match(/^HTTP\/1\.1 200 /gm)).toHaveLength(2);
  });

  it('answers an HTTP/1.0 client without chunked encoding, then closes', async () => {
    const raw = await rawExchange(proxyPort, tls.ca, `GET /chunked HTTP/1.0\r\nHost: ${host(apps.pub)}\r\n\r\n`);
    expect(raw).toMatch(/^HTTP\/1\.1 200 /);
    expect(raw).not.toMatch(/transfer-encoding/i);
    expect(raw.endsWith('\r\n\r\nabc')).toBe(true);
  });

  it('logs one JSON entry per request with who, host, port, status and duration, never the token', async () => {
    log.entries.length = 0;
    await get(host(apps.priv), `/logged?secret=1`, { headers: { 'x-gateway-token': tokens.alice } });
    await get(host(apps.priv), '/denied', { headers: { 'x-gateway-token': tokens.carol } });
    await eventually(() => log.entries.length >= 2);
    const [ok, denied] = log.entries;
    expect(ok).toMatchObject({ subject: 'alice', organization: 'acme', host: host(apps.priv), hostId: 'h-alice', port: portOf(apps.priv), path: '/logged', status: 200 });
    expect(typeof ok.durationMs).toBe('number');
    expect(denied).toMatchObject({ subject: 'carol', status: 403, reason: 'forbidden' });
    const text = JSON.stringify(log.entries);
    for (const t of Object.values(tokens)) for (const part of t.split('.')) expect(text).not.toContain(part);
  });

  it('applies route changes without dropping open connections (keep-alive and WebSocket)', async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1, ca: tls.ca });
    const ws = await openWebSocket(proxyPort, tls.ca, host(apps.priv), { 'x-gateway-token': tokens.alice });
    try {
      const first = await get(host(apps.pub), '/', { agent });
      expect(first.status).toBe(200);
      expect(await echo(ws, 'before')).toBe('before');

      const newHost = { hostId: 'h-new', ip: '127.0.0.1', owner: CAROL, ports: [{ port: portOf(apps.pub), access: 'public' as const, protocol: 'http' as const }] };
      writeRoutes(table('2', [newHost]));
      await eventually(() => proxy.routesVersion === '2');

      const second = await get(host(apps.pub, 'h-new'), '/', { agent });
      expect(second.status).toBe(200);
      expect(second.localPort).toBe(first.localPort); // the same client connection
      expect(await echo(ws, 'after')).toBe('after');
      expect(ws.readyState).toBe(WebSocket.OPEN);
    } finally {
      ws.close();
      agent.destroy();
    }
  });
});

describe('gateway proxy timeouts and limits (shortened by configuration)', () => {
  const tmp = tempDir('proxy-limits-');
  const tls = makeTlsFixture(tmp.dir, DOMAIN);
  const keys = testSigner();
  let app: Server;
  let proxy: ProxyServer;
  let proxyPort: number;
  let hostName: string;

  beforeAll(async () => {
    app = await startApp();
    hostName = proxyHostName(portOf(app), 'h1', DOMAIN);
    const table: RouteTable = {
      version: '1',
      routes: [{ hostId: 'h1', ip: '127.0.0.1', owner: ALICE, ports: [{ port: portOf(app), access: 'public', protocol: 'http' }] }],
    };
    proxy = new ProxyServer({
      domain: DOMAIN,
      tls: { cert: tls.cert, key: tls.key },
      routes: new StaticRouteSource(table),
      tokenPublicKey: keys.publicKey,
      accessLog: new MemoryAccessLog(),
      idleTimeoutMs: 300,
      webSocketIdleTimeoutMs: 1500,
      headersTimeoutMs: 400,
      maxConnectionsPerIp: 3,
      upstreamTimeoutMs: 500,
    });
    proxyPort = (await proxy.listen(0, '127.0.0.1')).port;
  });

  afterAll(async () => {
    await proxy?.close();
    app?.closeAllConnections();
    await new Promise((r) => app?.close(r));
    tmp.cleanup();
  });

  it('keeps an idle WebSocket past the HTTP idle timeout, and closes it after its own idle timeout', async () => {
    const ws = await openWebSocket(proxyPort, tls.ca, hostName, {});
    const closed = new Promise<number>((resolve) => ws.on('close', (code) => resolve(code)));
    expect(await echo(ws, 'one')).toBe('one');
    await new Promise((r) => setTimeout(r, 700)); // idle: longer than the 300 ms HTTP idle timeout
    expect(ws.readyState).toBe(WebSocket.OPEN);
    expect(await echo(ws, 'two')).toBe('two');
    await closed; // then idle past 1.5 s: the proxy closes it
  });

  it('answers 504 when the environment does not answer in time', async () => {
    const reply = await fetchVia(proxyPort, tls.ca, hostName, '/hang');
    expect(reply.status).toBe(504);
    expect(reply.body).toContain('did not answer in time');
  });

  it('closes a connection whose request head does not arrive in time with 408', async () => {
    const reply = await rawExchange(proxyPort, tls.ca, `GET / HTTP/1.1\r\nHost: ${hostName}\r\n`);
    expect(reply).toMatch(/^HTTP\/1\.1 408 /);
  });

  it('answers 503 until its route source has delivered a table', async () => {
    const waiting = new ProxyServer({
      domain: DOMAIN,
      tls: { cert: tls.cert, key: tls.key },
      routes: { start: () => {}, close: async () => {} },
      tokenPublicKey: keys.publicKey,
      accessLog: new MemoryAccessLog(),
    });
    try {
      const port = (await waiting.listen(0, '127.0.0.1')).port;
      const reply = await fetchVia(port, tls.ca, hostName, '/');
      expect(reply.status).toBe(503);
      expect(reply.body).toContain('not loaded its routes');
    } finally {
      await waiting.close();
    }
  });

  // Connection limits (per address, global, first-request deadline): limits.test.ts.
});

function openTls(port: number, ca: string, servername: string): Promise<ReturnType<typeof tlsConnect>> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ host: '127.0.0.1', port, ca, servername }, () => resolve(socket));
    socket.on('error', reject);
  });
}

/** Sends raw bytes over TLS and collects everything until the proxy closes the connection. */
async function rawExchange(port: number, ca: string, bytes: string): Promise<string> {
  const socket = await openTls(port, ca, 'raw.test.local');
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', reject);
    socket.on('close', () => resolve(Buffer.concat(chunks).toString('latin1')));
    socket.write(bytes);
  });
}
