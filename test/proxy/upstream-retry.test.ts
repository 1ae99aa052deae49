import { createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { proxyHostName, type RouteTable } from '../../src/mesh/routes';
import { MemoryAccessLog } from '../../src/proxy/access-log';
import type { ProxyServer } from '../../src/proxy/server';
import { makeTlsFixture, openTls, startTestProxy, tempDir, testSigner, waitFor } from './support';

/**
 * An environment may close a kept-alive connection just as the proxy sends the next request on
 * it. The proxy then tries once more on a new connection, but only for a method that may run
 * twice (RFC 9110 §9.2.2): the environment may have acted on the request before it closed, and a
 * POST run twice is two orders. Here the environment acts on (records) the second request of each
 * connection and closes without answering, which is that race made certain.
 */

const DOMAIN = 'test.local';

describe('a request on a kept-alive environment connection that closes unanswered', () => {
  const tmp = tempDir('proxy-retry-');
  const tls = makeTlsFixture(tmp.dir, DOMAIN);
  const keys = testSigner();
  const log = new MemoryAccessLog();
  /** What the environment acted on, as "<method> <path>". */
  const actedOn: string[] = [];
  const sockets = new Set<Socket>();
  let env: NetServer;
  let proxy: ProxyServer;
  let proxyPort: number;

  beforeAll(async () => {
    env = createNetServer((socket) => {
      sockets.add(socket);
      let pending = '';
      let served = 0;
      socket.on('data', (chunk: Buffer) => {
        pending += chunk.toString('latin1');
        for (let end = pending.indexOf('\r\n\r\n'); end >= 0; end = pending.indexOf('\r\n\r\n')) {
          const [method, path] = pending.slice(0, end).split(' ');
          pending = pending.slice(end + 4);
          actedOn.push(`${method} ${path}`);
          if (++served === 1) socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
          else socket.destroy();
        }
      });
      socket.on('close', () => sockets.delete(socket));
    });
    await new Promise<void>((r) => env.listen(0, '127.0.0.1', () => r()));
    const table: RouteTable = {
      version: '1',
      routes: [{ hostId: 'h-env', ip: '127.0.0.1', owner: { subject: 'alice', organization: 'acme' }, ports: [{ port: (env.address() as AddressInfo).port, access: 'public', protocol: 'http' }] }],
    };
    ({ proxy, port: proxyPort } = await startTestProxy({ domain: DOMAIN, tls, table, tokenPublicKey: keys.publicKey, accessLog: log }));
  });

  afterAll(async () => {
    await proxy?.close();
    for (const s of sockets) s.destroy();
    await new Promise((r) => env?.close(r));
    tmp.cleanup();
  });

  /** One bodiless request on its own client connection; the status line the client got, or '' if none. */
  async function send(method: string, path: string): Promise<string> {
    const hostName = proxyHostName((env.address() as AddressInfo).port, 'h-env', DOMAIN);
    const socket = await openTls(proxyPort, tls.ca, hostName);
    let answer = '';
    socket.on('data', (c: Buffer) => (answer += c.toString('latin1')));
    const closed = new Promise((r) => socket.once('close', r));
    socket.write(`${method} ${path} HTTP/1.1\r\nHost: ${hostName}\r\nConnection: close\r\n\r\n`);
    await closed;
    return answer.split('\r\n')[0];
  }

  it.each([
    ['GET', true],
    ['HEAD', true],
    ['PUT', true],
    ['DELETE', true],
    ['OPTIONS', true],
    ['POST', false],
    ['PATCH', false],
  ])('%s: tried once more on a new connection: %s', async (method, retried) => {
    // Warm one pooled connection, so the request under test goes out on a kept-alive one.
    expect(await send('GET', '/warm')).toBe('HTTP/1.1 200 OK');
    const before = actedOn.length;
    const status = await send(method, `/${method.toLowerCase()}`);
    await waitFor('the environment to see the request', () => actedOn.length, (n) => n > before);
    const times = actedOn.slice(before).filter((r) => r === `${method} /${method.toLowerCase()}`).length;
    expect({ status, times }).toEqual(retried ? { status: 'HTTP/1.1 200 OK', times: 2 } : { status: 'HTTP/1.1 502 Bad Gateway', times: 1 });
  });
});
