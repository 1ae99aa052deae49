import { execFileSync } from 'node:child_process';
import { generateKeyPairSync, type KeyObject, sign } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpsRequest, type RequestOptions } from 'node:https';
import type { IncomingHttpHeaders } from 'node:http';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import { waitUntil } from '../support/wait';
import type { Signer } from '../../src/pki/signer';
import type { RouteTable } from '../../src/mesh/routes';
import type { AccessLog } from '../../src/proxy/access-log';
import { type RouteSource, StaticRouteSource } from '../../src/proxy/route-source';
import { ProxyServer, type ProxyServerOptions } from '../../src/proxy/server';

/** A temp dir removed by `cleanup()`. */
export function tempDir(prefix: string): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/**
 * A test CA and a `*.<domain>` leaf it signed, made with the openssl CLI (as an operator would),
 * so clients verify the proxy's certificate for real instead of skipping verification.
 */
export function makeTlsFixture(dir: string, domain: string): { ca: string; cert: string; key: string } {
  const run = (args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  run(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=proxy test CA']);
  run(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', 'leaf.key', '-out', 'leaf.csr', '-subj', `/CN=*.${domain}`]);
  writeFileSync(join(dir, 'leaf.ext'), `subjectAltName=DNS:*.${domain},DNS:${domain}\nextendedKeyUsage=serverAuth\n`);
  run(['x509', '-req', '-in', 'leaf.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'leaf.pem', '-days', '2', '-extfile', 'leaf.ext']);
  const read = (f: string) => readFileSync(join(dir, f), 'utf8');
  return { ca: read('ca.pem'), cert: read('leaf.pem'), key: read('leaf.key') };
}

/** An in-memory Ed25519 `Signer` (the proxy only needs the public half). */
export function testSigner(): { signer: Signer; publicKey: KeyObject; rawPublicKey: Uint8Array } {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const raw = Buffer.from(publicKey.export({ format: 'jwk' }).x!, 'base64url');
  return {
    publicKey,
    rawPublicKey: new Uint8Array(raw),
    signer: {
      publicKey: async () => new Uint8Array(raw),
      sign: async (message) => new Uint8Array(sign(null, message, privateKey)),
    },
  };
}

export interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
  /** The local port of the client socket: the same value means the same kept-alive connection. */
  localPort: number | undefined;
}

/** One HTTPS request to the proxy at 127.0.0.1:`port`, as if to `https://<hostName><path>`. */
export function fetchVia(
  port: number,
  ca: string,
  hostName: string,
  path: string,
  options: {
    method?: string;
    headers?: Record<string, string | string[]>;
    body?: string | Buffer;
    agent?: RequestOptions['agent'];
    servername?: string;
    /** Where the proxy listens, when not on loopback. */
    connectTo?: string;
    /** The client's own address (another 127.x.y.z looks like another client IP). */
    localAddress?: string;
  } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      {
        host: options.connectTo ?? '127.0.0.1',
        port,
        servername: options.servername ?? hostName,
        ca,
        method: options.method ?? 'GET',
        path,
        headers: { host: hostName, ...options.headers },
        agent: options.agent ?? false,
        localAddress: options.localAddress,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks).toString('utf8'), localPort: res.socket?.localPort }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
}

/** A TLS connection to the proxy at 127.0.0.1:`port` that has finished its handshake. */
export function openTls(port: number, ca: string, servername: string, localAddress?: string): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ host: '127.0.0.1', port, ca, servername, ...(localAddress ? { localAddress } : {}) }, () => resolve(socket));
    socket.on('error', reject);
  });
}

/**
 * Resolves with `probe()` once `ok` holds for it, polling. The deadline only bounds the wait:
 * past it, rejects saying what it waited for and what it last saw.
 */
export async function waitFor<T>(what: string, probe: () => T, ok: (value: T) => boolean, deadlineMs = 10_000): Promise<T> {
  return waitUntil(what, probe, ok, { timeoutMs: deadlineMs, intervalMs: 10 });
}

/** `promise`, or a rejection naming `what` once `deadlineMs` has passed (a bound on the wait, not a timing assertion). */
export function beforeDeadline<T>(promise: Promise<T>, what: string, deadlineMs = 10_000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: nothing after ${deadlineMs} ms`)), deadlineMs);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

/** Resolves when `check()` holds, polling; past its own deadline, rejects quoting the check's source. */
export async function eventually(check: () => boolean, intervalMs = 20, timeoutMs = 10_000): Promise<void> {
  await waitUntil(String(check), check, Boolean, { timeoutMs, intervalMs });
}

/** A WebSocket to `hostName` through the proxy on `port`, trusting `ca`. */
export function openWebSocket(port: number, ca: string, hostName: string, headers: Record<string, string>): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const options: WebSocket.ClientOptions & { servername: string } = { ca, servername: hostName, headers: { host: hostName, ...headers } };
    const ws = new WebSocket(`wss://127.0.0.1:${port}/ws`, options);
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

/** Sends `text` and resolves with the next message. */
export function echo(ws: WebSocket, text: string): Promise<string> {
  return new Promise((resolve) => {
    ws.once('message', (data) => resolve(data.toString()));
    ws.send(text);
  });
}

export interface TestProxyOptions extends Partial<ProxyServerOptions> {
  readonly domain: string;
  readonly tls: { readonly cert: string; readonly key: string };
  /** A fixed table, or a source the test swaps. */
  readonly table: RouteTable | RouteSource;
  readonly tokenPublicKey: KeyObject;
  readonly accessLog: AccessLog;
}

/** A ProxyServer on 127.0.0.1 (a free port) with its first route table in force; errors not its requests' are ignored. */
export async function startTestProxy(options: TestProxyOptions): Promise<{ proxy: ProxyServer; port: number }> {
  const { table, tls, ...rest } = options;
  const routes = 'start' in table ? table : new StaticRouteSource(table);
  const proxy = new ProxyServer({ onError: () => {}, ...rest, tls: { cert: tls.cert, key: tls.key }, routes });
  await proxy.ready();
  return { proxy, port: (await proxy.listen(0, '127.0.0.1')).port };
}

