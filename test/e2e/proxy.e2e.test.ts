import type { ChildProcess } from 'node:child_process';
import { generateKeyPairSync, sign } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { mintAccessToken } from '../../src/mesh/access-token';
import { proxyHostName } from '../../src/mesh/routes';
import { fetchVia, makeTlsFixture, tempDir } from '../proxy/support';
import { makeCa, makeRawNode, startRawNebula } from './harness/nebula-cert-mesh';
import { nsSpawn, Underlay } from './harness/netns';
import { ping, waitFor } from './harness/overlay';
import { describeMesh } from './harness/prerequisites';

/**
 * `gateway proxy` in its own namespace reaches an environment's web server over a real nebula
 * mesh, by host name: browser (the test, in the root namespace) → TLS → proxy namespace →
 * nebula → environment namespace.
 */
const DOMAIN = 'mesh.test';

const WEB_SERVER = `
require('node:http').createServer((req, res) => {
  res.setHeader('content-type', 'application/json');
  res.end(JSON.stringify({ from: 'environment', url: req.url, forwardedFor: req.headers['x-forwarded-for'], token: req.headers['x-gateway-token'] ?? null }));
}).listen(3000, '0.0.0.0', () => process.stdout.write('listening\\n'));
`;

describeMesh()('gateway proxy over a nebula mesh', () => {
  const tmp = tempDir('e2e-proxy-');
  let underlay: Underlay;
  const processes: ChildProcess[] = [];

  afterAll(() => {
    for (const p of processes) p.kill('SIGKILL');
    underlay?.destroy();
    tmp.cleanup();
  });

  it('routes https://3000--<hostId>.<domain> to the environment overlay IP, enforcing the access level', async () => {
    underlay = Underlay.create();
    const [lhNs, envNs, proxyNs] = ['lh', 'env', 'px'].map((n) => underlay.addNamespace(n));
    makeCa(tmp.dir);
    const lh = makeRawNode(tmp.dir, lhNs, 'lh', '10.78.0.1');
    const env = makeRawNode(tmp.dir, envNs, 'env', '10.78.0.2', { overlayIp: lh.overlayIp, underlay: lhNs.ip });
    const px = makeRawNode(tmp.dir, proxyNs, 'px', '10.78.0.3', { overlayIp: lh.overlayIp, underlay: lhNs.ip });
    for (const node of [lh, env, px]) processes.push(startRawNebula(node));

    const web = nsSpawn(envNs, process.execPath, ['-e', WEB_SERVER], { stdio: ['ignore', 'pipe', 'inherit'] });
    processes.push(web);
    await new Promise<void>((resolve, reject) => {
      web.once('exit', (code) => reject(new Error(`web server exited with ${code}`)));
      web.stdout!.once('data', () => resolve());
    });
    await waitFor('the proxy to reach the environment over the overlay', () => ping(proxyNs, env.overlayIp));

    const tls = makeTlsFixture(tmp.dir, DOMAIN);
    writeFileSync(join(tmp.dir, 'tls.crt'), tls.cert);
    writeFileSync(join(tmp.dir, 'tls.key'), tls.key);
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    writeFileSync(join(tmp.dir, 'token.pub'), publicKey.export({ type: 'spki', format: 'pem' }));
    const owner = { subject: 'dev', organization: 'acme' };
    writeFileSync(
      join(tmp.dir, 'routes.json'),
      JSON.stringify({
        version: '1',
        routes: [
          { hostId: 'env', ip: env.overlayIp, owner, ports: [{ port: 3000, access: 'private', protocol: 'http' }] },
          { hostId: 'gone', ip: '10.78.0.9', owner, ports: [{ port: 3000, access: 'public', protocol: 'http' }] },
        ],
      }),
    );
    const proxy = nsSpawn(
      proxyNs,
      process.execPath,
      [
        join(__dirname, '..', '..', 'bin', 'gateway.js'), 'proxy', '--domain', DOMAIN,
        '--tls-cert', join(tmp.dir, 'tls.crt'), '--tls-key', join(tmp.dir, 'tls.key'),
        '--routes', join(tmp.dir, 'routes.json'), '--token-public-key', join(tmp.dir, 'token.pub'),
        '--listen', '0.0.0.0:8443', '--connect-timeout', '2s',
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    processes.push(proxy);
    await new Promise<void>((resolve, reject) => {
      let err = '';
      proxy.once('exit', (code) => reject(new Error(`gateway proxy exited with ${code}: ${err}`)));
      proxy.stderr!.on('data', (c: Buffer) => {
        err += c.toString();
        if (err.includes('listening')) resolve();
      });
    });

    const token = await mintAccessToken({
      signer: { publicKey: async () => new Uint8Array(), sign: async (m) => new Uint8Array(sign(null, m, privateKey)) },
      principal: owner,
      ttlSeconds: 300,
    });
    const hostName = proxyHostName(3000, 'env', DOMAIN);
    // The proxy listens in its namespace; the test reaches it across the bridge as a browser would.
    const via = (name: string, headers: Record<string, string> = {}) =>
      fetchVia(8443, tls.ca, name, '/hello?x=1', { headers, connectTo: proxyNs.ip });

    const denied = await via(hostName);
    expect(denied.status).toBe(401);
    const ok = await via(hostName, { 'x-gateway-token': token });
    expect(ok.status).toBe(200);
    expect(JSON.parse(ok.body)).toEqual({ from: 'environment', url: '/hello?x=1', forwardedFor: underlay.bridgeIp, token: null });
    const unknown = await via(proxyHostName(3000, 'nobody', DOMAIN));
    expect(unknown.status).toBe(404);
    const unreachable = await via(proxyHostName(3000, 'gone', DOMAIN));
    expect(unreachable.status).toBe(502);
    expect(unreachable.body).toContain('not answering on port 3000');
  });
});
