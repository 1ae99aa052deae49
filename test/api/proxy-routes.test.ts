import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { loadAccessTokenPublicKey } from '../../src/mesh/access-token';
import { proxyHostName, type RouteTable } from '../../src/mesh/routes';
import { encodeX25519PublicKeyPem, generateX25519KeyPair } from '../../src/pki';
import { MemoryAccessLog } from '../../src/proxy/access-log';
import { HttpRouteSource, type RouteSource } from '../../src/proxy/route-source';
import { ProxyServer } from '../../src/proxy/server';
import { apiClient, startTestGateway, type TestGateway } from '../support/gateway';
import { eventually, fetchVia, makeTlsFixture, type Reply, tempDir } from '../proxy/support';

/**
 * The proxy against the gateway, end to end on loopback: the gateway (startGateway, DynamoDB
 * Local) publishes an environment's port, mints access tokens and serves /v1/routes; the proxy
 * (TLS, openssl-made certificate) reads the route table over HTTP with a proxy host's own
 * credential, long-polling, and verifies tokens with the key from /v1/network.
 *
 * The environment is a Node HTTP server on 127.0.0.1. Overlay addresses cannot be loopback
 * (Ipv4Cidr refuses 127.0.0.0/8) and no mesh runs here, so the test's route source hands the
 * proxy the gateway's table with the environment's overlay IP mapped to 127.0.0.1, after checking
 * that the table carries exactly that overlay IP; everything else passes through unchanged.
 */

const DOMAIN = 'gw.test';
const ALICE = { subject: 'alice@example.com', organization: 'acme' };
const BOB = { subject: 'bob@example.com', organization: 'acme' };

class OverlayToLoopback implements RouteSource {
  readonly seen: RouteTable[] = [];
  constructor(
    private readonly inner: RouteSource,
    private readonly overlayIp: string,
  ) {}
  start(onTable: (table: RouteTable) => void, onError: (err: Error) => void): void {
    this.inner.start((table) => {
      this.seen.push(table);
      onTable({ ...table, routes: table.routes.map((r) => (r.ip === this.overlayIp ? { ...r, ip: '127.0.0.1' } : r)) });
    }, onError);
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}

describe('gateway proxy --routes <gateway>/v1/routes', () => {
  const tmp = tempDir('gw-proxy-e2e-');
  const tls = makeTlsFixture(tmp.dir, DOMAIN);
  let gw: TestGateway;
  let call: ReturnType<typeof apiClient>;
  let app: Server;
  let proxy: ProxyServer;
  let routes: OverlayToLoopback;
  let proxyPort: number;
  const errors: Error[] = [];

  beforeAll(async () => {
    gw = await startTestGateway();
    call = apiClient(gw.url);
    app = createServer((req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end(`environment saw ${req.url} token=${req.headers['x-gateway-token'] ?? 'none'}`);
    });
    await new Promise<void>((r) => app.listen(0, '127.0.0.1', () => r()));
  });

  afterAll(async () => {
    await proxy?.close();
    app?.closeAllConnections();
    if (app) await new Promise((r) => app.close(r));
    await gw?.close();
    tmp.cleanup();
  });

  test('private port: 401 without a token, 200 for the owner, 403 for another subject; changes arrive without a restart', async () => {
    const admin = { token: gw.adminToken };
    const port = (app.address() as AddressInfo).port;
    const env = await call('POST', '/v1/hosts', { ...admin, body: { name: 'env-e2e', role: 'environment', owner: ALICE } });
    expect(env.status).toBe(201);
    const envId: string = env.body.host.id;
    const overlayIp: string = env.body.host.ip;
    expect((await call('PUT', `/v1/hosts/${envId}/ports/${port}`, { ...admin, body: { access: 'private' } })).status).toBe(200);

    // The proxy node's own host and credential, as a proxy instance would have after enrolling.
    const proxyHost = await call('POST', '/v1/hosts', { ...admin, body: { name: 'proxy-e2e', role: 'proxy' } });
    const enrolled = await call('POST', '/v1/enroll', {
      body: { token: proxyHost.body.enrollment.token, publicKey: encodeX25519PublicKeyPem(generateX25519KeyPair().publicKey) },
    });
    expect(enrolled.status).toBe(200);
    const network = (await call('GET', '/v1/network')).body;

    routes = new OverlayToLoopback(
      new HttpRouteSource(`${gw.url}/v1/routes?host=${proxyHost.body.host.id}`, {
        headers: { authorization: `Bearer ${enrolled.body.credential}` },
        waitSeconds: 30,
        retryMs: 200,
      }),
      overlayIp,
    );
    proxy = new ProxyServer({
      domain: DOMAIN,
      tls: { cert: tls.cert, key: tls.key },
      routes,
      tokenPublicKey: loadAccessTokenPublicKey(network.accessTokenPublicKey),
      accessLog: new MemoryAccessLog(),
      onError: (err) => errors.push(err),
    });
    await proxy.ready();
    proxyPort = (await proxy.listen(0, '127.0.0.1')).port;
    expect(routes.seen[0].routes).toEqual([
      { hostId: envId, ip: overlayIp, owner: ALICE, ports: [{ port, access: 'private', protocol: 'http' }] },
    ]);

    const mint = async (principal: typeof ALICE) => {
      const res = await call('POST', '/v1/access-tokens', { ...admin, body: principal });
      expect(res.status).toBe(201);
      return res.body.token as string;
    };
    const aliceToken = await mint(ALICE);
    const bobToken = await mint(BOB);
    const hostName = proxyHostName(port, envId, DOMAIN);
    const get = (token?: string): Promise<Reply> =>
      fetchVia(proxyPort, tls.ca, hostName, '/hello', token ? { headers: { 'x-gateway-token': token } } : {});

    expect((await get()).status).toBe(401);
    const owner = await get(aliceToken);
    expect(owner.status).toBe(200);
    // The token stops at the proxy; the environment never sees it.
    expect(owner.body).toBe('environment saw /hello token=none');
    expect((await get(bobToken)).status).toBe(403);

    // Opened to everyone: the proxy's long-poll brings the change, no restart.
    const tablesBefore = routes.seen.length;
    expect((await call('PUT', `/v1/hosts/${envId}/ports/${port}`, { ...admin, body: { access: 'public' } })).status).toBe(200);
    await eventually(() => routes.seen.length > tablesBefore);
    expect(routes.seen.at(-1)!.routes[0].ports).toEqual([{ port, access: 'public', protocol: 'http' }]);
    expect((await get()).status).toBe(200);

    // Withdrawn: nothing is published there any more.
    expect((await call('DELETE', `/v1/hosts/${envId}/ports/${port}`, admin)).status).toBe(204);
    await eventually(() => routes.seen.at(-1)!.routes.length === 0);
    expect((await get(aliceToken)).status).toBe(404);
    expect(errors).toEqual([]);
  });
});
