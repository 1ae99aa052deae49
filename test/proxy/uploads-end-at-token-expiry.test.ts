import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { mintAccessToken } from '../../src/mesh/access-token';
import { proxyHostName, type RouteTable } from '../../src/mesh/routes';
import { MemoryAccessLog } from '../../src/proxy/access-log';
import type { ProxyServer } from '../../src/proxy/server';
import { beforeDeadline, eventually, makeTlsFixture, openTls, startTestProxy, tempDir, testSigner, waitFor } from './support';

/**
 * A request body still uploading when the token that admitted it expires is cut, like a stream or
 * a tunnel: the client must not keep bytes flowing to a private port on an expired token. Real TLS
 * on loopback, Node applications that record what reaches them, clients that write raw HTTP/1.1
 * a piece at a time, and jest's clock: it runs as usual while uploads begin (the token has a
 * minute left, however slow the machine), then jumps past the token's expiry, so the order of
 * events is fixed, not timed.
 */

const DOMAIN = 'test.local';
const ALICE = { subject: 'alice', organization: 'acme' };
const BOB = { subject: 'bob', organization: 'acme' };
const TOKEN_SECONDS = 60;
const PAST_EXPIRY_MS = (TOKEN_SECONDS + 1) * 1000;

/** What one request's body looked like from the application's side. */
interface Received {
  bytes: number;
  /** The whole body arrived. */
  complete: boolean;
  /** The connection it came on closed. */
  closed: boolean;
  answer(): void;
}

/**
 * Records every request body; answers `got <bytes>` once a body is complete, except on /hold (the
 * test answers) and /early (a streamed answer begins at once and ends with the body).
 */
function startUploadApp(): Promise<{ server: Server; received: Received[] }> {
  const received: Received[] = [];
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const r: Received = { bytes: 0, complete: false, closed: false, answer: () => res.end(`got ${r.bytes}`) };
    received.push(r);
    req.socket.once('close', () => (r.closed = true));
    if (req.url === '/early') res.write('early;');
    req.on('data', (chunk: Buffer) => (r.bytes += chunk.length));
    req.on('end', () => {
      r.complete = true;
      if (req.url !== '/hold') r.answer();
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ server, received })));
}

interface Client {
  socket: TLSSocket;
  /** Everything the proxy sent so far. */
  text: string;
  closed: Promise<void>;
  isClosed: boolean;
}

/** A raw HTTP/1.1 client over TLS to the proxy: the test writes the request a piece at a time. */
async function connectClient(proxyPort: number, ca: string, hostName: string): Promise<Client> {
  const socket = await openTls(proxyPort, ca, hostName);
  const client: Client = { socket, text: '', closed: new Promise((r) => socket.once('close', () => r())), isClosed: false };
  socket.setEncoding('latin1');
  socket.on('data', (chunk: string) => (client.text += chunk));
  socket.on('error', () => {}); // a reset is seen through `closed`
  void client.closed.then(() => (client.isClosed = true));
  return client;
}

const portOf = (s: Server) => (s.address() as AddressInfo).port;

describe('gateway proxy: request bodies still uploading end when the token that admitted them expires', () => {
  const tmp = tempDir('proxy-uploads-');
  const tls = makeTlsFixture(tmp.dir, DOMAIN);
  const keys = testSigner();
  const log = new MemoryAccessLog();
  let priv: Awaited<ReturnType<typeof startUploadApp>>;
  let org: Awaited<ReturnType<typeof startUploadApp>>;
  let pub: Awaited<ReturnType<typeof startUploadApp>>;
  let proxy: ProxyServer;
  let proxyPort: number;
  const clients: Client[] = [];

  const host = (app: { server: Server }) => proxyHostName(portOf(app.server), 'h-alice', DOMAIN);
  const mint = (principal: typeof ALICE, ttlSeconds = TOKEN_SECONDS) => mintAccessToken({ signer: keys.signer, principal, ttlSeconds });
  const expiries = (app: { server: Server }) => log.entries.filter((e) => e.reason === 'token-expired' && e.port === portOf(app.server));
  const last = (app: { received: Received[] }) => app.received[app.received.length - 1];

  /** Sends a request head (and the first body bytes) to `app`; resolves once the application has those bytes. */
  async function beginUpload(app: typeof priv, path: string, headers: string[], firstBytes: string, firstBodyBytes: number): Promise<{ client: Client; received: Received }> {
    const client = await connectClient(proxyPort, tls.ca, host(app));
    clients.push(client);
    const before = app.received.length;
    client.socket.write(['POST ' + path + ' HTTP/1.1', `Host: ${host(app)}`, ...headers, '', firstBytes].join('\r\n'));
    const received = await waitFor('the first body bytes at the application', () => app.received[before], (r) => r !== undefined && r.bytes === firstBodyBytes);
    return { client, received };
  }

  beforeAll(async () => {
    [priv, org, pub] = [await startUploadApp(), await startUploadApp(), await startUploadApp()];
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
    ({ proxy, port: proxyPort } = await startTestProxy({ domain: DOMAIN, tls, table, tokenPublicKey: keys.publicKey, accessLog: log }));
  });

  beforeEach(() => jest.useFakeTimers({ advanceTimers: true, doNotFake: ['nextTick', 'setImmediate', 'queueMicrotask'] }));

  afterEach(() => {
    jest.useRealTimers();
    for (const c of clients.splice(0)) c.socket.destroy();
  });

  afterAll(async () => {
    await proxy?.close();
    for (const s of [priv?.server, org?.server, pub?.server]) {
      s?.closeAllConnections();
      await new Promise((r) => s?.close(r));
    }
    tmp.cleanup();
  });

  it('a chunked upload admitted by a token is cut at its expiry: the application gets a body short of its end, the client a closed connection (logged)', async () => {
    const { client, received } = await beginUpload(priv, '/upload?name=a', [`X-Gateway-Token: ${await mint(ALICE)}`, 'Transfer-Encoding: chunked'], '5\r\nhello\r\n', 5);
    expect(expiries(priv)).toEqual([]);

    jest.advanceTimersByTime(PAST_EXPIRY_MS);
    await beforeDeadline(client.closed, 'the client connection to close');
    expect(client.text).toBe(''); // nothing was answered: the request was cut, not refused
    await eventually(() => received.closed);
    expect(received).toMatchObject({ bytes: 5, complete: false });
    await eventually(() => expiries(priv).length > 0);
    expect(expiries(priv)).toEqual([expect.objectContaining({ subject: 'alice', organization: 'acme', method: 'POST', path: '/upload', status: 0 })]);
  });

  it('a Content-Length upload admitted by a member token on an organization port is cut at its expiry', async () => {
    const { client, received } = await beginUpload(org, '/upload', [`Authorization: Bearer ${await mint(BOB)}`, 'Content-Length: 1000000'], 'start', 5);

    jest.advanceTimersByTime(PAST_EXPIRY_MS);
    await beforeDeadline(client.closed, 'the client connection to close');
    await eventually(() => received.closed);
    expect(received).toMatchObject({ bytes: 5, complete: false });
    await eventually(() => expiries(org).length > 0);
    expect(expiries(org)).toEqual([expect.objectContaining({ subject: 'bob', method: 'POST', path: '/upload' })]);
  });

  it('an upload that completed before the expiry is answered after it, and its kept-alive connection carries the next request', async () => {
    const earlier = expiries(priv).length;
    const { client, received } = await beginUpload(priv, '/hold', [`X-Gateway-Token: ${await mint(ALICE)}`, 'Content-Length: 10'], 'first', 5);
    client.socket.write('-last');
    await waitFor('the whole body at the application', () => received.complete, Boolean);

    jest.advanceTimersByTime(PAST_EXPIRY_MS);
    received.answer(); // late: the environment took its time
    await waitFor('the answer to the upload', () => client.text, (t) => t.startsWith('HTTP/1.1 200') && t.endsWith('got 10'));

    client.text = '';
    client.socket.write(['POST /upload HTTP/1.1', `Host: ${host(priv)}`, `X-Gateway-Token: ${await mint(ALICE, 600)}`, 'Content-Length: 2', '', 'ok'].join('\r\n'));
    await waitFor('the answer to the next request on the same connection', () => client.text, (t) => t.startsWith('HTTP/1.1 200') && t.endsWith('got 2'));
    expect(client.isClosed).toBe(false);
    expect(expiries(priv)).toHaveLength(earlier);
  });

  it('an answer that began while its request was uploading ends with it; the kept-alive connection outlives the expiry', async () => {
    const earlier = expiries(priv).length;
    const { client, received } = await beginUpload(priv, '/early', [`X-Gateway-Token: ${await mint(ALICE)}`, 'Content-Length: 10'], 'first', 5);
    await waitFor('the start of the answer, mid-upload', () => client.text, (t) => t.includes('early;'));
    client.socket.write('-last');
    await waitFor('the end of the answer', () => client.text, (t) => t.endsWith('got 10\r\n0\r\n\r\n'));
    expect(received.complete).toBe(true);

    jest.advanceTimersByTime(PAST_EXPIRY_MS);
    client.text = '';
    client.socket.write(['POST /upload HTTP/1.1', `Host: ${host(priv)}`, `X-Gateway-Token: ${await mint(ALICE, 600)}`, 'Content-Length: 2', '', 'ok'].join('\r\n'));
    await waitFor('the answer to the next request on the same connection', () => client.text, (t) => t.startsWith('HTTP/1.1 200') && t.endsWith('got 2'));
    expect(client.isClosed).toBe(false);
    expect(expiries(priv)).toHaveLength(earlier);
  });

  it("a public port's long upload keeps flowing past the expiry of the token that came with it", async () => {
    const { client, received } = await beginUpload(pub, '/upload', [`X-Gateway-Token: ${await mint(ALICE)}`, 'Transfer-Encoding: chunked'], '5\r\nfirst\r\n', 5);

    jest.advanceTimersByTime(PAST_EXPIRY_MS);
    client.socket.write('4\r\nlast\r\n');
    await waitFor('more body bytes at the application after the expiry', () => received.bytes, (n) => n === 9);
    client.socket.write('0\r\n\r\n');
    await waitFor('the answer to the upload', () => client.text, (t) => t.startsWith('HTTP/1.1 200') && t.endsWith('got 9'));
    expect(received).toMatchObject({ complete: true, closed: false });
    expect(client.isClosed).toBe(false);
    expect(expiries(pub)).toEqual([]);
  });
});
