import { Agent, request as httpsRequest } from 'node:https';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mintAccessToken } from '../../src/mesh/access-token';
import { proxyHostName, type RouteTable } from '../../src/mesh/routes';
import { MemoryAccessLog } from '../../src/proxy/access-log';
import { StaticRouteSource } from '../../src/proxy/route-source';
import { ProxyServer } from '../../src/proxy/server';
import { beforeDeadline, eventually, fetchVia, makeTlsFixture, tempDir, testSigner, waitFor } from './support';

/**
 * Long responses (Server-Sent Events, a download) end when the token that admitted them expires,
 * like WebSocket tunnels do; on a public port they do not. Real TLS on loopback, Node
 * applications that stream what the test tells them to, and jest's clock: it runs as usual
 * while streams open (the token has a minute left, however slow the machine), then jumps past
 * the token's expiry, so the order of events is fixed, not timed.
 */

const DOMAIN = 'test.local';
const ALICE = { subject: 'alice', organization: 'acme' };
const BOB = { subject: 'bob', organization: 'acme' };
const TOKEN_SECONDS = 60;
const PAST_EXPIRY_MS = (TOKEN_SECONDS + 1) * 1000;
/** A download the application never finishes: the test sends its bytes a few at a time. */
const DOWNLOAD_BYTES = 1 << 20;

/** An application whose responses stay open until the test writes to or ends them. */
function startStreamingApp(): Promise<{ server: Server; open: Set<ServerResponse>; send(text: string): void; endAll(): void }> {
  const open = new Set<ServerResponse>();
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    if (req.url === '/download') res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(DOWNLOAD_BYTES) });
    else res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store' });
    res.write(req.url === '/download' ? 'start' : ': open\n\n');
    open.add(res);
    res.on('close', () => open.delete(res));
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve({
        server,
        open,
        send: (text) => {
          for (const res of open) res.write(text);
        },
        endAll: () => {
          for (const res of open) res.end();
        },
      }),
    ),
  );
}

interface Stream {
  status: number;
  /** Everything received so far. */
  text: string;
  /** Settles when the response ends, completely or not. */
  ended: Promise<{ complete: boolean }>;
  localPort: number | undefined;
  destroy(): void;
}

/** A GET through the proxy whose body is read as it comes; resolves once the head is in. */
function openStream(proxyPort: number, ca: string, hostName: string, path: string, headers: Record<string, string>, agent: Agent | false = false): Promise<Stream> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest({ host: '127.0.0.1', port: proxyPort, servername: hostName, ca, path, headers: { host: hostName, ...headers }, agent }, (res) => {
      let settle!: (v: { complete: boolean }) => void;
      const stream: Stream = {
        status: res.statusCode!,
        text: '',
        ended: new Promise((r) => (settle = r)),
        localPort: res.socket.localPort,
        destroy: () => req.destroy(),
      };
      res.setEncoding('latin1');
      res.on('data', (chunk: string) => (stream.text += chunk));
      res.on('error', () => {}); // "aborted": seen through `complete` below
      res.on('close', () => settle({ complete: res.complete }));
      resolve(stream);
    });
    req.on('error', reject);
    req.end();
  });
}

const portOf = (s: Server) => (s.address() as AddressInfo).port;

describe('gateway proxy: long responses end when the token that admitted them expires', () => {
  const tmp = tempDir('proxy-streams-');
  const tls = makeTlsFixture(tmp.dir, DOMAIN);
  const keys = testSigner();
  const log = new MemoryAccessLog();
  let priv: Awaited<ReturnType<typeof startStreamingApp>>;
  let org: Awaited<ReturnType<typeof startStreamingApp>>;
  let pub: Awaited<ReturnType<typeof startStreamingApp>>;
  let proxy: ProxyServer;
  let proxyPort: number;

  const host = (app: { server: Server }) => proxyHostName(portOf(app.server), 'h-alice', DOMAIN);
  const mint = (principal: typeof ALICE, ttlSeconds = TOKEN_SECONDS) => mintAccessToken({ signer: keys.signer, principal, ttlSeconds });
  const open = (app: { server: Server }, path: string, headers: Record<string, string>, agent?: Agent) => openStream(proxyPort, tls.ca, host(app), path, headers, agent);
  const expiries = (app: { server: Server }) => log.entries.filter((e) => e.reason === 'token-expired' && e.port === portOf(app.server));

  beforeAll(async () => {
    [priv, org, pub] = [await startStreamingApp(), await startStreamingApp(), await startStreamingApp()];
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
          ],
        },
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
  });

  beforeEach(() => jest.useFakeTimers({ advanceTimers: true, doNotFake: ['nextTick', 'setImmediate', 'queueMicrotask'] }));

  afterEach(() => {
    jest.useRealTimers();
    for (const app of [priv, org, pub]) app?.endAll();
  });

  afterAll(async () => {
    await proxy?.close();
    for (const s of [priv?.server, org?.server, pub?.server]) {
      s?.closeAllConnections();
      await new Promise((r) => s?.close(r));
    }
    tmp.cleanup();
  });

  it('an event stream admitted by a token stops at its expiry (logged); the same token on a public port keeps streaming; a fresh token streams again', async () => {
    const short = await mint(ALICE);
    const privateStream = await open(priv, '/events', { 'x-gateway-token': short });
    const publicStream = await open(pub, '/events', { 'x-gateway-token': short });
    expect([privateStream.status, publicStream.status]).toEqual([200, 200]);
    priv.send('data: one\n\n');
    pub.send('data: one\n\n');
    await waitFor('the first event on both streams', () => [privateStream.text, publicStream.text], (t) => t.every((s) => s.includes('data: one')));
    expect(expiries(priv)).toEqual([]);

    jest.advanceTimersByTime(PAST_EXPIRY_MS);
    expect(await beforeDeadline(privateStream.ended, 'the private event stream to end')).toEqual({ complete: false }); // cut: a chunked body without its last chunk
    await eventually(() => expiries(priv).length > 0);
    expect(expiries(priv)).toEqual([expect.objectContaining({ subject: 'alice', organization: 'acme', method: 'GET', path: '/events', status: 200 })]);
    await eventually(() => priv.open.size === 0); // the environment's side of the stream is closed too

    // Same token, same moment, public port: still streaming after the private one ended.
    pub.send('data: two\n\n');
    await waitFor('the second event on the public stream', () => publicStream.text, (t) => t.includes('data: two'));
    expect(pub.open.size).toBe(1);
    expect(expiries(pub)).toEqual([]);
    publicStream.destroy();

    // The expired token opens nothing new; a fresh one does, and its stream flows.
    expect((await fetchVia(proxyPort, tls.ca, host(priv), '/events', { headers: { 'x-gateway-token': short } })).status).toBe(401);
    const again = await open(priv, '/events', { 'x-gateway-token': await mint(ALICE, 600) });
    expect(again.status).toBe(200);
    priv.send('data: three\n\n');
    await waitFor('an event on the stream opened with a fresh token', () => again.text, (t) => t.includes('data: three'));
    again.destroy();
  });

  it('a download admitted by a member token on an organization port is cut short at the token expiry', async () => {
    const short = await mint(BOB);
    const download = await open(org, '/download', { authorization: `Bearer ${short}` });
    expect(download.status).toBe(200);
    org.send('more');
    await waitFor('the first bytes of the download', () => download.text, (t) => t === 'startmore');

    jest.advanceTimersByTime(PAST_EXPIRY_MS);
    expect(await beforeDeadline(download.ended, 'the download to end')).toEqual({ complete: false }); // fewer bytes than its Content-Length
    expect(download.text.length).toBeLessThan(DOWNLOAD_BYTES);
    await eventually(() => expiries(org).length > 0);
    expect(expiries(org)).toEqual([expect.objectContaining({ subject: 'bob', path: '/download', status: 200 })]);
  });

  it('a long response that ended before the token expired leaves its kept-alive connection open past the expiry', async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1, ca: tls.ca });
    const earlier = expiries(priv).length;
    try {
      const stream = await open(priv, '/events', { 'x-gateway-token': await mint(ALICE) }, agent);
      priv.send('data: last\n\n');
      await waitFor('the event', () => stream.text, (t) => t.includes('data: last'));
      priv.endAll();
      expect(await stream.ended).toEqual({ complete: true });

      jest.advanceTimersByTime(PAST_EXPIRY_MS);
      // The next request, with a fresh token, goes over the same connection: nothing cut it.
      const next = await open(priv, '/events', { 'x-gateway-token': await mint(ALICE, 600) }, agent);
      expect(next.status).toBe(200);
      expect(next.localPort).toBe(stream.localPort);
      priv.endAll();
      expect(await next.ended).toEqual({ complete: true });
      expect(expiries(priv)).toHaveLength(earlier);
    } finally {
      agent.destroy();
    }
  });
});
