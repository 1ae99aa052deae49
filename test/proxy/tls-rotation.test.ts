/**
 * Proxy certificate renewal without a restart (src/proxy/tls-reloader.ts) through a real proxy:
 * TLS on loopback, a Node application behind it, certificates made with the openssl CLI. The
 * rules: the reloader reads its source again on its interval; a changed, valid pair is served to
 * new connections, while a kept-alive connection and a WebSocket opened before keep working on
 * their socket; an invalid replacement (another domain, a key of another certificate) is refused,
 * logged once, and the pair being served stays. The Secrets Manager source is tested against a
 * mocked Secrets Manager (aws-sdk-client-mock: the service has no local implementation).
 */
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { Agent, request as httpsRequest } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import WebSocket, { WebSocketServer } from 'ws';
import { proxyHostName } from '../../src/mesh/routes';
import { MemoryAccessLog } from '../../src/proxy/access-log';
import { StaticRouteSource } from '../../src/proxy/route-source';
import { ProxyServer } from '../../src/proxy/server';
import { checkTlsPair, type TlsPair } from '../../src/proxy/tls-pair';
import { TlsReloader } from '../../src/proxy/tls-reloader';
import { FileTlsSource, SecretsManagerTlsSource } from '../../src/proxy/tls-source';
import { describeNeeding } from '../support/prerequisites';
import { waitUntil } from '../support/wait';
import { echo, openWebSocket, tempDir, testSigner } from './support';

const DOMAIN = 'rotate.test';

/** A CA and leaves it signs with openssl, each with its own key. */
function certificateFactory(dir: string): { ca: string; leaf: (name: string, dnsNames: string[]) => TlsPair } {
  const run = (args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  run(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=rotation test CA']);
  return {
    ca: readFileSync(join(dir, 'ca.pem'), 'utf8'),
    leaf: (name, dnsNames) => {
      run(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${dnsNames[0]}`]);
      writeFileSync(join(dir, `${name}.ext`), `subjectAltName=${dnsNames.map((d) => `DNS:${d}`).join(',')}\nextendedKeyUsage=serverAuth\n`);
      run(['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${name}.pem`, '-days', '2', '-extfile', `${name}.ext`]);
      return { cert: readFileSync(join(dir, `${name}.pem`), 'utf8'), key: readFileSync(join(dir, `${name}.key`), 'utf8') };
    },
  };
}

const fingerprintOf = (pair: TlsPair) => new X509Certificate(pair.cert).fingerprint256;

describeNeeding(['openssl'])('proxy TLS rotation', () => {
  const tmp = tempDir('proxy-tls-rotation-');
  const certs = certificateFactory(tmp.dir);
  const first = certs.leaf('first', [`*.${DOMAIN}`]);
  const second = certs.leaf('second', [`*.${DOMAIN}`, DOMAIN]);
  const otherDomain = certs.leaf('other', ['*.other.test']);
  const certPath = join(tmp.dir, 'tls.crt');
  const keyPath = join(tmp.dir, 'tls.key');
  /** Replaces the files as a renewal client would: each one written aside, then renamed into place. */
  const install = (pair: TlsPair) => {
    writeFileSync(`${keyPath}.new`, pair.key);
    writeFileSync(`${certPath}.new`, pair.cert);
    renameSync(`${keyPath}.new`, keyPath);
    renameSync(`${certPath}.new`, certPath);
  };

  let app: Server;
  let proxy: ProxyServer;
  let reloader: TlsReloader;
  let proxyPort: number;
  let hostName: string;
  const logged: string[] = [];

  /** One GET through the proxy; says which socket carried it and which certificate it saw. */
  const get = (agent: Agent | false) =>
    new Promise<{ status: number; body: string; localPort: number; fingerprint: string }>((resolve, reject) => {
      const req = httpsRequest({ host: '127.0.0.1', port: proxyPort, servername: hostName, ca: certs.ca, path: '/', headers: { host: hostName }, agent }, (res) => {
        const socket = res.socket as TLSSocket;
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode!, body: Buffer.concat(chunks).toString(), localPort: socket.localPort!, fingerprint: socket.getPeerCertificate().fingerprint256 }));
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end();
    });

  beforeAll(async () => {
    app = createServer((_req, res) => res.end('app'));
    const wss = new WebSocketServer({ server: app });
    wss.on('connection', (ws) => ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary })));
    await new Promise<void>((resolve) => app.listen(0, '127.0.0.1', resolve));
    const appPort = (app.address() as AddressInfo).port;
    hostName = proxyHostName(appPort, 'h-rotate', DOMAIN);
    install(first);
    const source = new FileTlsSource(certPath, keyPath);
    const initial = await source.read();
    proxy = new ProxyServer({
      domain: DOMAIN,
      tls: initial,
      routes: new StaticRouteSource({
        version: '1',
        routes: [{ hostId: 'h-rotate', ip: '127.0.0.1', owner: { subject: 'alice', organization: 'acme' }, ports: [{ port: appPort, access: 'public', protocol: 'http' }] }],
      }),
      tokenPublicKey: testSigner().publicKey,
      accessLog: new MemoryAccessLog(),
      onError: () => {},
    });
    await proxy.ready();
    proxyPort = (await proxy.listen(0, '127.0.0.1')).port;
    // A short interval stands in for the 15-minute default: the timer, not a direct call, finds the renewal.
    reloader = new TlsReloader({ source, domain: DOMAIN, apply: (pair) => proxy.setTls(pair), log: (line) => logged.push(line), intervalMs: 50 }, initial, checkTlsPair(initial, DOMAIN, new Date()));
    reloader.start();
  });

  afterAll(async () => {
    reloader?.stop();
    await proxy?.close();
    app?.closeAllConnections();
    await new Promise((resolve) => app?.close(resolve));
    tmp.cleanup();
  });

  it('serves a renewed certificate to new connections while a kept-alive connection and a WebSocket carry on', async () => {
    const keepAlive = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const before = await get(keepAlive);
      expect(before).toMatchObject({ status: 200, body: 'app', fingerprint: fingerprintOf(first) });
      const ws = await openWebSocket(proxyPort, certs.ca, hostName, {});
      const wsSocket = (ws as unknown as { _socket: TLSSocket })._socket;
      expect(wsSocket.getPeerCertificate().fingerprint256).toBe(fingerprintOf(first));
      expect(await echo(ws, 'before the renewal')).toBe('before the renewal');

      install(second);
      const fresh = await waitUntil('a new connection to present the renewed certificate', () => get(false), (r) => r.fingerprint === fingerprintOf(second), { timeoutMs: 10_000, intervalMs: 50 });
      expect(fresh).toMatchObject({ status: 200, body: 'app' });
      expect(reloader.current.fingerprint).toBe(fingerprintOf(second));
      expect(logged.some((l) => l.includes(`now serving certificate ${fingerprintOf(second)}`) && l.includes(`in place of ${fingerprintOf(first)}`))).toBe(true);

      // The connections opened before: same sockets, still working, still on the old certificate.
      const after = await get(keepAlive);
      expect(after).toMatchObject({ status: 200, body: 'app', localPort: before.localPort, fingerprint: fingerprintOf(first) });
      expect(ws.readyState).toBe(WebSocket.OPEN);
      expect(await echo(ws, 'after the renewal')).toBe('after the renewal');
      expect(wsSocket.getPeerCertificate().fingerprint256).toBe(fingerprintOf(first));
      ws.close();
    } finally {
      keepAlive.destroy();
    }
  });

  it('refuses a replacement for another domain, or with a key of another certificate, logs it once, and keeps serving', async () => {
    const serving = reloader.current.fingerprint;
    expect(serving).toBe(fingerprintOf(second));
    const cases: [string, TlsPair, RegExp][] = [
      ['another domain', otherDomain, new RegExp(`refusing the new certificate from ${certPath}.*does not cover \\*\\.${DOMAIN.replace('.', '\\.')}`)],
      ['a key of another certificate', { cert: first.cert, key: second.key }, new RegExp(`refusing the new certificate.*the private key does not belong to certificate ${fingerprintOf(first)}`)],
    ];
    for (const [what, pair, refusal] of cases) {
      const mark = logged.length;
      install(pair);
      const lines = await waitUntil(`the refusal of ${what} in the log`, () => logged.slice(mark), (l) => l.some((line) => refusal.test(line)), { timeoutMs: 10_000, intervalMs: 50 });
      expect({ what, keeping: lines.find((line) => refusal.test(line))?.endsWith(`keeping certificate ${serving} (valid until ${reloader.current.notAfter.toISOString()})`) }).toEqual({ what, keeping: true });
      expect({ what, served: (await get(false)).fingerprint }).toEqual({ what, served: serving });
      // Read again unchanged: nothing new is logged, nothing changes.
      const quiet = logged.length;
      expect(await reloader.reload()).toBe('unchanged');
      expect(logged.slice(quiet).filter((line) => refusal.test(line))).toEqual([]);
    }
    expect(logged.join('\n')).not.toContain('PRIVATE KEY');
  });

  it('a missing file is logged and the pair being served stays; a valid pair put back is served', async () => {
    // The timer is held so that this read is the only one; a read already under way is waited for.
    reloader.stop();
    await reloader.reload();
    const mark = logged.length;
    renameSync(keyPath, `${keyPath}.gone`);
    expect(await reloader.reload()).toBe('unreadable');
    expect(logged.slice(mark)).toEqual([expect.stringMatching(new RegExp(`cannot read ${keyPath}: ENOENT; keeping certificate ${reloader.current.fingerprint}`))]);
    renameSync(`${keyPath}.gone`, keyPath);
    reloader.start();
    install(first);
    await waitUntil('the first certificate again for new connections', () => get(false), (r) => r.fingerprint === fingerprintOf(first), { timeoutMs: 10_000, intervalMs: 50 });
  });
});

describeNeeding(['openssl'])('proxy TLS from Secrets Manager (mocked)', () => {
  const tmp = tempDir('proxy-tls-secret-');
  const certs = certificateFactory(tmp.dir);
  const first = certs.leaf('first', [`*.${DOMAIN}`]);
  const second = certs.leaf('second', [`*.${DOMAIN}`]);
  const ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:gateway/proxy-tls-AbCdEf';
  afterAll(() => tmp.cleanup());

  it('reads {certificate, privateKey} from the secret the ARN names, in its region, and rotates on a new version', async () => {
    const client = new SecretsManagerClient({ region: 'us-east-1' });
    const sm = mockClient(client);
    const secretString = (pair: TlsPair) => JSON.stringify({ certificate: pair.cert, privateKey: pair.key });
    sm.on(GetSecretValueCommand, { SecretId: ARN }).resolvesOnce({ SecretString: secretString(first) }).resolves({ SecretString: secretString(second) });
    const source = new SecretsManagerTlsSource(ARN, client);
    const initial = await source.read();
    expect(initial).toEqual(first);
    const applied: TlsPair[] = [];
    const logged: string[] = [];
    const reloader = new TlsReloader({ source, domain: DOMAIN, apply: (pair) => applied.push(pair), log: (line) => logged.push(line) }, initial, checkTlsPair(initial, DOMAIN, new Date()));
    expect(await reloader.reload()).toBe('replaced');
    expect(applied).toEqual([second]);
    expect(logged).toEqual([expect.stringContaining(`now serving certificate ${fingerprintOf(second)} (valid until`)]);
    expect(logged[0]).toContain(`from secret ${ARN}`);
    expect(await reloader.reload()).toBe('unchanged');
    expect(sm.commandCalls(GetSecretValueCommand)).toHaveLength(3);
    // Without a client of its own, the source asks the region its ARN names.
    expect(await new SecretsManagerTlsSource(ARN)['client'].config.region()).toBe('eu-west-1');
  });

  it('a secret that is not {certificate, privateKey}, or cannot be read, is logged without its content, and the pair stays', async () => {
    const client = new SecretsManagerClient({ region: 'eu-west-1' });
    const sm = mockClient(client);
    const initial = first;
    const logged: string[] = [];
    const applied: TlsPair[] = [];
    const reloader = new TlsReloader({ source: new SecretsManagerTlsSource(ARN, client), domain: DOMAIN, apply: (pair) => applied.push(pair), log: (line) => logged.push(line) }, initial, checkTlsPair(initial, DOMAIN, new Date()));
    const answers: [string, () => void, RegExp][] = [
      ['not JSON', () => sm.on(GetSecretValueCommand).resolves({ SecretString: `${first.key} not json` }), /is not JSON \{"certificate"/],
      ['fields missing', () => sm.on(GetSecretValueCommand).resolves({ SecretString: JSON.stringify({ cert: first.cert, key: first.key }) }), /needs string fields certificate and privateKey/],
      ['access denied', () => sm.on(GetSecretValueCommand).rejects(Object.assign(new Error('not authorized to perform secretsmanager:GetSecretValue'), { name: 'AccessDeniedException' })), /cannot read secret .*: AccessDeniedException/],
    ];
    for (const [what, answer, line] of answers) {
      sm.reset();
      answer();
      const mark = logged.length;
      expect({ what, outcome: await reloader.reload() }).toEqual({ what, outcome: 'unreadable' });
      expect({ what, lines: logged.slice(mark) }).toEqual({ what, lines: [expect.stringMatching(line)] });
    }
    expect(applied).toEqual([]);
    expect(reloader.current.fingerprint).toBe(fingerprintOf(first));
    expect(logged.join('\n')).not.toContain('PRIVATE KEY');
  });
});
