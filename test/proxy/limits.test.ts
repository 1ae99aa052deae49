import { writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { Agent } from 'node:https';
import { type AddressInfo, connect as netConnect, createServer as netCreateServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { main } from '../../src/cli/main';
import { proxyHostName, type RouteTable } from '../../src/mesh/routes';
import { MemoryAccessLog } from '../../src/proxy/access-log';
import { StaticRouteSource } from '../../src/proxy/route-source';
import { ProxyServer, type ProxyServerOptions } from '../../src/proxy/server';
import { beforeDeadline, fetchVia, makeTlsFixture, openTls, type Reply, tempDir, testSigner, waitFor } from './support';

/**
 * Limits that hold off an attacker without locking out the people next to them: idle sockets
 * (handshake, no head yet, between keep-alive requests) are bounded by deadlines and a global
 * cap, and only connections that are working count toward an address's share. Other client
 * addresses are other 127.x.y.z source addresses on loopback.
 */

const DOMAIN = 'test.local';

describe('gateway proxy connection limits', () => {
  const tmp = tempDir('proxy-limits-');
  const tls = makeTlsFixture(tmp.dir, DOMAIN);
  /** Requests to `/hold` wait here until released. */
  const held: ServerResponse[] = [];
  const app = createServer((req: IncomingMessage, res: ServerResponse) => {
    if (req.url === '/hold') held.push(res);
    else res.end('ok');
  });
  const release = () => {
    for (const res of held.splice(0)) res.end('released');
  };
  let hostName: string;
  const proxies: ProxyServer[] = [];

  async function startProxy(options: Partial<ProxyServerOptions>): Promise<{ proxy: ProxyServer; port: number; log: MemoryAccessLog }> {
    const appPort = (app.address() as AddressInfo).port;
    const table: RouteTable = {
      version: '1',
      routes: [{ hostId: 'h1', ip: '127.0.0.1', owner: { subject: 'alice', organization: 'acme' }, ports: [{ port: appPort, access: 'public', protocol: 'http' }] }],
    };
    const log = new MemoryAccessLog();
    const proxy = new ProxyServer({
      domain: DOMAIN,
      tls: { cert: tls.cert, key: tls.key },
      routes: new StaticRouteSource(table),
      tokenPublicKey: testSigner().publicKey,
      accessLog: log,
      idleTimeoutMs: 60_000,
      headersTimeoutMs: 60_000,
      ...options,
    });
    proxies.push(proxy);
    await proxy.ready();
    return { proxy, port: (await proxy.listen(0, '127.0.0.1')).port, log };
  }

  beforeAll(async () => {
    await new Promise<void>((r) => app.listen(0, '127.0.0.1', () => r()));
    hostName = proxyHostName((app.address() as AddressInfo).port, 'h1', DOMAIN);
  });

  afterEach(() => release());

  afterAll(async () => {
    for (const proxy of proxies) await proxy.close();
    app.closeAllConnections();
    await new Promise((r) => app.close(r));
    tmp.cleanup();
  });

  const closed = (socket: Socket) => new Promise<void>((resolve) => (socket.destroyed ? resolve() : socket.once('close', () => resolve())));

  it('closes connections that have not finished the handshake and sent a first head by the deadline, and keeps a kept-alive one', async () => {
    const { port } = await startProxy({ firstRequestTimeoutMs: 500 });
    const agent = new Agent({ keepAlive: true, maxSockets: 1, ca: tls.ca });
    try {
      const first = await fetchVia(port, tls.ca, hostName, '/', { agent });
      expect(first.status).toBe(200);

      const tcpOnly = netConnect(port, '127.0.0.1');
      tcpOnly.on('error', () => {});
      const silent = await openTls(port, tls.ca, hostName);
      const partial = await openTls(port, tls.ca, hostName);
      silent.on('error', () => {});
      partial.on('error', () => {});
      partial.write(`GET / HTTP/1.1\r\nHost: ${hostName}\r\n`);
      await beforeDeadline(Promise.all([closed(tcpOnly), closed(silent), closed(partial)]), 'the idle connections to be closed');

      // The kept-alive connection has been idle at least as long, and is still served.
      const second = await fetchVia(port, tls.ca, hostName, '/', { agent });
      expect(second.status).toBe(200);
      expect(second.localPort).toBe(first.localPort);
    } finally {
      agent.destroy();
    }
  });

  it('serves a neighbour on the same address while idle sockets from it exceed the per-address limit', async () => {
    const { proxy, port } = await startProxy({ maxConnectionsPerIp: 3, maxConnections: 8 });
    const idle = await Promise.all([1, 2, 3, 4, 5, 6].map(() => openTls(port, tls.ca, hostName)));
    try {
      const reply = await fetchVia(port, tls.ca, hostName, '/');
      expect(reply.status).toBe(200);
      // The idle ones are all still open (the neighbour's connection, told to close, is gone).
      await waitFor('only the six idle sockets to remain', () => proxy.stats(), (s) => s.sockets === 6 && s.working === 0);
      expect(idle.filter((s) => s.destroyed)).toEqual([]);
    } finally {
      for (const s of idle) s.destroy();
    }
  });

  it('at the global cap closes the longest idle connection for a new one, and never holds more', async () => {
    const { proxy, port } = await startProxy({ maxConnectionsPerIp: 3, maxConnections: 6 });
    const closedOrder: number[] = [];
    const idle: Socket[] = [];
    try {
      for (let i = 0; i < 10; i++) {
        const socket = await openTls(port, tls.ca, hostName);
        socket.on('error', () => {});
        socket.once('close', () => closedOrder.push(i));
        idle.push(socket);
        expect(proxy.stats().sockets).toBeLessThanOrEqual(6);
      }
      const reply = await fetchVia(port, tls.ca, hostName, '/');
      expect(reply.status).toBe(200);
      // 10 idle sockets and one visitor through 6 places: the 5 oldest idle ones gave way.
      await waitFor('five idle sockets to be closed', () => closedOrder, (order) => order.length === 5);
      expect([...closedOrder].sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4]);
    } finally {
      for (const s of idle) s.destroy();
    }
  });

  it('answers 429 beyond the per-address limit of working connections, and leaves other addresses alone', async () => {
    const { port, log } = await startProxy({ maxConnectionsPerIp: 3, maxConnections: 6 });
    const holds = [1, 2, 3].map(() => fetchVia(port, tls.ca, hostName, '/hold'));
    await waitFor('three requests to be in progress', () => held.length, (n) => n === 3);

    const refused = await fetchVia(port, tls.ca, hostName, '/');
    expect(refused.status).toBe(429);
    expect(refused.headers['retry-after']).toBe('1');
    expect(refused.body).toContain('Too many requests from your address');
    expect(log.entries.filter((e) => e.status === 429).map((e) => e.reason)).toEqual(['too-many-working']);
    const otherAddress = await fetchVia(port, tls.ca, hostName, '/', { localAddress: '127.0.0.2' });
    expect(otherAddress.status).toBe(200);

    release();
    expect((await Promise.all(holds)).map((r) => r.status)).toEqual([200, 200, 200]);
    const after = await fetchVia(port, tls.ca, hostName, '/');
    expect(after.status).toBe(200);
  });

  it('refuses a new connection only when every place is taken by a working one', async () => {
    const { proxy, port } = await startProxy({ maxConnectionsPerIp: 3, maxConnections: 6 });
    const holds: Promise<Reply>[] = [];
    for (const localAddress of ['127.0.0.1', '127.0.0.2']) for (let i = 0; i < 3; i++) holds.push(fetchVia(port, tls.ca, hostName, '/hold', { localAddress }));
    await waitFor('six requests to be in progress', () => held.length, (n) => n === 6);
    expect(proxy.stats()).toMatchObject({ sockets: 6, working: 6 });

    const refused = await openTls(port, tls.ca, hostName, '127.0.0.3').then(
      (s) => {
        s.destroy();
        return 'connected';
      },
      (err: Error) => `refused: ${err.message}`,
    );
    expect(refused).toMatch(/^refused: /);

    release();
    expect((await Promise.all(holds)).map((r) => r.status)).toEqual([200, 200, 200, 200, 200, 200]);
    const after = await fetchVia(port, tls.ca, hostName, '/', { localAddress: '127.0.0.3' });
    expect(after.status).toBe(200);
  });

  /** The first record a TLS client sends (its ClientHello), caught by a listener that answers nothing. */
  async function clientHello(): Promise<Buffer> {
    const catcher = netCreateServer();
    await new Promise<void>((r) => catcher.listen(0, '127.0.0.1', () => r()));
    const first = new Promise<Buffer>((resolve) => catcher.once('connection', (s) => s.once('data', (d: Buffer) => (resolve(d), s.destroy()))));
    const client = tlsConnect({ host: '127.0.0.1', port: (catcher.address() as AddressInfo).port, ca: tls.ca, servername: hostName });
    client.on('error', () => {});
    try {
      return await first;
    } finally {
      client.destroy();
      catcher.close();
    }
  }

  /** Sends a ClientHello over plain TCP: the proxy answers a handshake record (its ServerHello), or closes without a byte. */
  function answerTo(port: number, hello: Buffer, localAddress: string): Promise<'server hello' | 'closed unanswered' | 'other'> {
    return new Promise((resolve) => {
      const socket = netConnect({ port, host: '127.0.0.1', localAddress }, () => socket.write(hello));
      socket.on('error', () => {});
      socket.once('data', (d: Buffer) => {
        resolve(d[0] === 0x16 ? 'server hello' : 'other');
        socket.destroy();
      });
      socket.once('close', () => resolve('closed unanswered'));
    });
  }

  it('closes the new connections of an address beyond its rate before any TLS, says so once, and admits another address', async () => {
    const lines: string[] = [];
    // A rate so slow that no token comes back during the test: the burst is all there is.
    const { proxy, port } = await startProxy({ newConnectionsBurst: 4, newConnectionsPerSecond: 0.001, onError: (err) => lines.push(err.message) });
    const hello = await clientHello();
    const answers = await Promise.all(Array.from({ length: 10 }, () => answerTo(port, hello, '127.0.0.1')));
    expect(answers.filter((a) => a === 'server hello')).toHaveLength(4);
    expect(answers.filter((a) => a === 'closed unanswered')).toHaveLength(6);
    expect(proxy.stats().refusedTooFast).toBe(6);
    await waitFor('the refusals to be logged', () => lines, (l) => l.length > 0);
    expect(lines).toEqual(['refused 6 new connections from 127.0.0.1: more than 0.001/s after a burst of 4']);

    const other = await fetchVia(port, tls.ca, hostName, '/', { localAddress: '127.0.0.2' });
    expect(other.status).toBe(200);
    await expect(openTls(port, tls.ca, hostName, '127.0.0.1')).rejects.toThrow(/before secure TLS connection was established/);
    expect(proxy.stats().refusedTooFast).toBe(7);
  });

  it('names a bad limit flag of `gateway proxy` and exits 2 without starting', async () => {
    writeFileSync(join(tmp.dir, 'token.pub'), testSigner().publicKey.export({ type: 'spki', format: 'pem' }));
    const base = ['proxy', '--domain', DOMAIN, '--tls-cert', join(tmp.dir, 'leaf.pem'), '--tls-key', join(tmp.dir, 'leaf.key')];
    const rest = ['--routes', join(tmp.dir, 'routes.json'), '--token-public-key', join(tmp.dir, 'token.pub'), '--listen', '127.0.0.1:0'];
    for (const [flag, value, message] of [
      ['--max-connections', '0', "flag --max-connections: expected a positive integer, got '0'"],
      ['--first-request-timeout', 'soon', '--first-request-timeout'],
      ['--new-connections-per-second', '0', "flag --new-connections-per-second: expected a positive integer, got '0'"],
      ['--new-connections-burst', '1.5', "flag --new-connections-burst: expected a positive integer, got '1.5'"],
    ]) {
      let stderr = '';
      const io = { stdout: { write: () => true }, stderr: { write: (s: string) => ((stderr += s), true) }, env: {} };
      expect(await main([...base, ...rest, flag, value], io)).toBe(2);
      expect(stderr).toContain(message);
      expect(stderr).not.toContain('listening');
    }
  });
});
