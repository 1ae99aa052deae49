import { parse } from 'yaml';
import { createApi, GatewayStore, type Signer } from '../../src/api';
import { NodeVerificationError } from '../../src/api/ec2-node-verifier';
import { HOST_CONFIG_ROUTES } from '../../src/api/route-groups/host-config';
import { chooseEgressNode } from '../../src/mesh';
import { formatIpv4Prefix, encodeX25519PublicKeyPem, generateX25519KeyPair, parseCertificateBundle } from '../../src/pki';
import { testDynamoClient } from '../support/dynamodb';
import { apiClient, startTestGateway, type TestGateway } from '../support/gateway';

/**
 * The egress nodes' side of the control plane, over real HTTP against DynamoDB Local: the rules
 * feed (`GET /v1/egress/rules`) and who may read it, the egress node's certificate subnets, and
 * the environments' unsafe_routes.
 */

const ROUTES = ['10.0.0.0/16', '192.168.1.0/24'];
const EGRESS_INSTANCE = 'i-0e9e5500000000a01';
const ALICE = { subject: 'alice@example.com', organization: 'acme' };
const BOB = { subject: 'bob@example.com', organization: 'globex' };
const CAROL = { subject: 'carol@example.com', organization: 'acme' };

interface Enrolled {
  id: string;
  ip: string;
  name: string;
  credential: string;
}

describe('egress nodes and the rules feed', () => {
  let gw: TestGateway;
  let call: ReturnType<typeof apiClient>;
  const admin = () => gw.adminToken;

  const create = async (body: Record<string, unknown>) => {
    const res = await call('POST', '/v1/hosts', { token: admin(), body });
    expect(res.status).toBe(201);
    return res.body as { host: { id: string; ip: string; name: string }; enrollment: { token: string } };
  };
  const enroll = async (body: Record<string, unknown>): Promise<Enrolled> => {
    const { host, enrollment } = await create(body);
    const res = await call('POST', '/v1/enroll', { body: { token: enrollment.token, publicKey: encodeX25519PublicKeyPem(generateX25519KeyPair().publicKey) } });
    expect(res.status).toBe(200);
    return { id: host.id, ip: host.ip, name: host.name, credential: res.body.credential };
  };
  const feed = (host: Enrolled | { id: string; credential: string }, headers: Record<string, string> = {}) =>
    call('GET', `/v1/egress/rules?host=${host.id}`, { token: host.credential, headers });
  const config = async (host: Enrolled) => {
    const res = await call('GET', `/v1/hosts/${host.id}/config`, { token: host.credential });
    expect(res.status).toBe(200);
    return { body: res.body as { certificate: string; config: string }, nebula: parse(res.body.config) };
  };
  const subnetsOf = (pem: string) => parseCertificateBundle(pem)[0].details.subnets.map(formatIpv4Prefix);

  let egress: Enrolled;
  let env1: Enrolled;
  let env2: Enrolled;
  let env3: Enrolled;

  beforeAll(async () => {
    gw = await startTestGateway({
      egressRoutes: ROUTES,
      // EC2 has no local implementation: the fleet check is a stand-in that knows one egress instance.
      nodeVerifier: {
        async verify(instanceId, role) {
          if (instanceId !== EGRESS_INSTANCE || role !== 'egress') throw new NodeVerificationError(`not tagged ${role}`);
          return { publicIp: '198.18.0.20', privateIp: '10.0.1.20' };
        },
      },
    });
    call = apiClient(gw.url);
    env1 = await enroll({ name: 'env-alice', role: 'environment', owner: ALICE });
    env2 = await enroll({ name: 'env-bob', role: 'environment', owner: BOB });
    env3 = await enroll({ name: 'env-ownerless', role: 'environment' });
  });
  afterAll(async () => {
    await gw?.close();
  });

  test('without an active egress node, environments route nothing; an egress node that enrolls is routed through', async () => {
    expect((await config(env1)).nebula.tun).not.toHaveProperty('unsafe_routes');
    const pending = await create({ name: 'egress-pending', role: 'egress' });
    expect((await config(env1)).nebula.tun).not.toHaveProperty('unsafe_routes');

    egress = await enroll({ name: 'egress-1', role: 'egress' });
    expect((await config(env1)).nebula.tun.unsafe_routes).toEqual(ROUTES.map((route) => ({ route, via: egress.ip, mtu: 1300 })));
    expect((await config(env2)).nebula.tun.unsafe_routes).toEqual(ROUTES.map((route) => ({ route, via: egress.ip, mtu: 1300 })));

    const own = await config(egress);
    expect(subnetsOf(own.body.certificate)).toEqual(ROUTES);
    expect(own.nebula.tun).not.toHaveProperty('unsafe_routes');
    expect(own.nebula.firewall.inbound).toEqual([
      { port: 'any', proto: 'icmp', host: 'any' },
      { port: 'any', proto: 'any', group: 'environment' },
    ]);
    expect((await call('DELETE', `/v1/hosts/${pending.host.id}`, { token: admin() })).status).toBe(200);
  });

  test('the feed: each organisation with its rules and its environments, sorted; 304 for the same ETag', async () => {
    expect((await call('PUT', '/v1/egress-policies/acme', { token: admin(), body: { rules: [{ cidr: '10.0.5.0/24', proto: 'tcp', ports: '5432' }] } })).status).toBe(200);
    const res = await feed(egress);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      version: expect.any(String),
      routes: ROUTES,
      organizations: [
        { organization: 'acme', rules: [{ cidr: '10.0.5.0/24', proto: 'tcp', ports: '5432' }], members: [{ hostId: env1.id, name: env1.name, ip: env1.ip }] },
        // No policy: nothing allowed, but the node knows whose environment this is.
        { organization: 'globex', rules: [], members: [{ hostId: env2.id, name: env2.name, ip: env2.ip }] },
      ],
    });
    const etag = res.headers.get('etag') as string;
    expect(etag).toBe(`"${res.body.version}"`);
    const again = await feed(egress, { 'if-none-match': etag });
    expect(again.status).toBe(304);
    expect(again.text).toBe('');
    expect(again.headers.get('etag')).toBe(etag);
    // Another server answers alike: the version is a content hash.
    expect((await feed(egress)).body).toEqual(res.body);
  });

  test('an owner change, a revocation and a policy change each change the feed', async () => {
    const seen = new Set<string>();
    const current = async () => {
      const res = await feed(egress);
      expect(res.status).toBe(200);
      seen.add(res.headers.get('etag') as string);
      return res.body as { organizations: { organization: string; rules: unknown[]; members: { hostId: string }[] }[] };
    };
    const membersOf = (body: Awaited<ReturnType<typeof current>>, org: string) => body.organizations.find((o) => o.organization === org)?.members.map((m) => m.hostId);
    await current();

    expect((await call('PATCH', `/v1/hosts/${env3.id}`, { token: admin(), body: { owner: CAROL } })).status).toBe(200);
    expect(membersOf(await current(), 'acme')).toEqual([env1.id, env3.id].sort());

    expect((await call('PATCH', `/v1/hosts/${env2.id}`, { token: admin(), body: { owner: { ...BOB, organization: 'acme' } } })).status).toBe(200);
    const moved = await current();
    expect(membersOf(moved, 'acme')).toEqual([env1.id, env2.id, env3.id].sort());
    expect(moved.organizations.map((o) => o.organization)).toEqual(['acme']);

    expect((await call('DELETE', `/v1/hosts/${env1.id}`, { token: admin() })).status).toBe(200);
    expect(membersOf(await current(), 'acme')).toEqual([env2.id, env3.id].sort());

    expect((await call('PUT', '/v1/egress-policies/acme', { token: admin(), body: { rules: [{ cidr: '192.168.1.0/24', proto: 'udp', ports: '53' }] } })).status).toBe(200);
    expect((await current()).organizations[0].rules).toEqual([{ cidr: '192.168.1.0/24', proto: 'udp', ports: '53' }]);
    expect(seen.size).toBe(5);
  });

  test('only an active egress host (or the admin) reads the feed', async () => {
    const proxy = await enroll({ name: 'proxy-1', role: 'proxy' });
    const refusals: [string, Awaited<ReturnType<typeof feed>>, number, string | undefined][] = [
      ['an environment with its own credential', await feed(env2), 403, undefined],
      ['a proxy with its own credential', await feed(proxy), 403, undefined],
      ["the egress host's credential for another host", await feed({ id: env2.id, credential: egress.credential }), 401, 'authorization'],
      ['no credential', await call('GET', `/v1/egress/rules?host=${egress.id}`), 401, 'authorization'],
      ['a credential without ?host=', await call('GET', '/v1/egress/rules', { token: egress.credential }), 400, 'host'],
      ['an unknown query parameter', await call('GET', `/v1/egress/rules?host=${egress.id}&wait=5`, { token: egress.credential }), 400, 'wait'],
      ['a token that is neither', await call('GET', `/v1/egress/rules?host=${egress.id}`, { token: 'nope' }), 401, 'authorization'],
    ];
    for (const [what, res, status, field] of refusals) {
      expect({ what, status: res.status, type: res.headers.get('content-type') }).toEqual({ what, status, type: 'application/problem+json' });
      const fields = ((res.body.errors ?? []) as { field: string }[]).map((e) => e.field);
      expect({ what, fields }).toEqual({ what, fields: field === undefined ? [] : [field] });
    }
    expect((await call('GET', '/v1/egress/rules', { token: admin() })).status).toBe(200);

    const second = await enroll({ name: 'egress-2', role: 'egress' });
    expect((await feed(second)).status).toBe(200);
    const nodes = [egress, second].map((n) => ({ hostId: n.id, ip: n.ip }));
    const via = async (env: Enrolled) => (await config(env)).nebula.tun.unsafe_routes[0].via;
    expect(await via(env2)).toBe(chooseEgressNode(env2.id, nodes)?.ip);
    // Host ids are random: environments until one routes through the second node (each does with probability 1/2).
    let routed: Enrolled | undefined;
    for (let i = 0; i < 20 && !routed; i++) {
      const env = await enroll({ name: `env-spread-${i}`, role: 'environment' });
      if (chooseEgressNode(env.id, nodes)?.hostId === second.id) routed = env;
    }
    expect(routed).toBeDefined();
    expect(await via(routed as Enrolled)).toBe(second.ip);
    expect((await call('DELETE', `/v1/hosts/${second.id}`, { token: admin() })).status).toBe(200);
    expect((await feed(second)).status).toBe(401);
    // A revoked egress node is routed through no more.
    expect(await via(routed as Enrolled)).toBe(egress.ip);
  });

  test("new egress routes: the egress node's config carries a certificate with them, environments route them", async () => {
    const before = await config(egress);
    expect((await call('PUT', '/v1/network/egress-routes', { token: admin(), body: { routes: ['172.31.0.0/16', ...ROUTES] } })).status).toBe(200);
    const after = await config(egress);
    expect(subnetsOf(after.body.certificate)).toEqual(['10.0.0.0/16', '172.31.0.0/16', '192.168.1.0/24']);
    expect(after.body.certificate).not.toBe(before.body.certificate);
    // Same key: the node's private key stays where it is.
    expect(parseCertificateBundle(after.body.certificate)[0].details.publicKey).toEqual(parseCertificateBundle(before.body.certificate)[0].details.publicKey);
    const again = await config(egress);
    expect(again.body.certificate).toBe(after.body.certificate);

    expect((await config(env2)).nebula.tun.unsafe_routes.map((r: { route: string }) => r.route)).toEqual(['10.0.0.0/16', '172.31.0.0/16', '192.168.1.0/24']);
    expect((await feed(egress)).body.routes).toEqual(['10.0.0.0/16', '172.31.0.0/16', '192.168.1.0/24']);
  });

  test('an egress instance registers itself: certificate with the routes, an active egress node, the feed', async () => {
    const publicKey = encodeX25519PublicKeyPem(generateX25519KeyPair().publicKey);
    const asProxy = await call('POST', '/v1/nodes/register', { token: admin(), body: { role: 'proxy', publicKey, instanceId: EGRESS_INSTANCE } });
    expect(asProxy.status).toBe(403);
    const registered = await call('POST', '/v1/nodes/register', { token: admin(), body: { role: 'egress', publicKey, instanceId: EGRESS_INSTANCE } });
    expect(registered.status).toBe(200);
    const routes = (await call('GET', '/v1/network')).body.egressRoutes;
    expect(subnetsOf(registered.body.certificate)).toEqual(routes);
    expect(parse(registered.body.config).firewall.inbound).toContainEqual({ port: 'any', proto: 'any', group: 'environment' });
    const node = { id: registered.body.hostId as string, credential: registered.body.credential as string };
    expect((await gw.store.listEgressNodes()).map((n) => n.hostId)).toContain(node.id);
    expect((await feed(node)).status).toBe(200);
  });

  test('a process that cannot sign (the config function) serves the certificate the node has; the gateway server then reissues it', async () => {
    const client = testDynamoClient();
    const refuses: Signer = { publicKey: () => Promise.reject(new Error('no CA key here')), sign: () => Promise.reject(new Error('no CA key here')) };
    const lambdaLike = createApi({ store: new GatewayStore({ client, tableName: gw.tableName }), signer: refuses }, HOST_CONFIG_ROUTES);
    try {
      const held = (await config(egress)).body.certificate;
      expect((await call('PUT', '/v1/network/egress-routes', { token: admin(), body: { routes: ['172.30.0.0/16'] } })).status).toBe(200);
      const request = { method: 'GET', path: `/v1/hosts/${egress.id}/config`, headers: { authorization: `Bearer ${egress.credential}` }, query: {}, body: Buffer.alloc(0) };
      const answer = await lambdaLike(request);
      expect(answer.status).toBe(200);
      const body = JSON.parse(answer.body) as { certificate: string; config: string };
      expect(body.certificate).toBe(held);
      expect(parse(body.config).pki.cert).toBe(held);
      expect(subnetsOf((await config(egress)).body.certificate)).toEqual(['172.30.0.0/16']);
    } finally {
      lambdaLike.close();
      client.destroy();
    }
  });
});
