import { encodeX25519PublicKeyPem, generateX25519KeyPair } from '../../src/pki';
import { apiClient, startTestGateway, type TestGateway } from '../support/gateway';

/** The network's egress routes and the organisations' egress policies, over real HTTP against DynamoDB Local. */

const ROUTES = ['10.0.0.0/16', '192.168.1.0/24'];

describe('egress routes and policies', () => {
  let gw: TestGateway;
  let call: ReturnType<typeof apiClient>;
  const admin = () => gw.adminToken;
  const getPolicy = (org: string, token: string | null = admin()) => call('GET', `/v1/egress-policies/${org}`, { token: token ?? undefined });
  const putPolicy = (org: string, body: unknown, options: { token?: string; ifMatch?: string } = {}) =>
    call('PUT', `/v1/egress-policies/${org}`, {
      token: options.token ?? admin(),
      body,
      headers: options.ifMatch === undefined ? {} : { 'if-match': options.ifMatch },
    });

  beforeAll(async () => {
    gw = await startTestGateway({ egressRoutes: ['192.168.1.0/24', '10.0.0.0/16'] });
    call = apiClient(gw.url);
  });
  afterAll(async () => {
    await gw?.close();
  });

  test('the routes set at start are the network\'s, canonical, in GET /v1/network', async () => {
    const network = await call('GET', '/v1/network');
    expect(network.body.egressRoutes).toEqual(ROUTES);
  });

  test('a policy never set allows nothing; a set one is stored canonical with a revision', async () => {
    const never = await getPolicy('acme');
    expect(never.status).toBe(200);
    expect(never.body).toEqual({ organization: 'acme', rules: [], revision: 0 });
    expect(never.headers.get('etag')).toBe('"0"');

    const set = await putPolicy('acme', {
      rules: [
        { cidr: '192.168.1.10/32', proto: 'tcp', ports: '443' },
        { cidr: '10.0.0.0/16', proto: 'tcp', ports: '5432-5432' },
        { cidr: '10.0.0.0/16', proto: 'tcp', ports: '5432' },
        { cidr: '10.0.8.0/24', proto: 'any' },
      ],
    });
    expect(set.status).toBe(200);
    const expected = {
      organization: 'acme',
      rules: [
        { cidr: '10.0.0.0/16', proto: 'tcp', ports: '5432' },
        { cidr: '10.0.8.0/24', proto: 'any', ports: 'any' },
        { cidr: '192.168.1.10/32', proto: 'tcp', ports: '443' },
      ],
      revision: 1,
      updatedAt: expect.any(String),
    };
    expect(set.body).toEqual(expected);
    expect(set.headers.get('etag')).toBe('"1"');
    expect((await getPolicy('acme')).body).toEqual(expected);
    expect((await putPolicy('acme', { organization: 'acme', rules: [] })).body).toMatchObject({ rules: [], revision: 2 });
  });

  test.each([
    ['a malformed body', '{"rules": [', 'body', 400],
    ['rules that are not a list', { rules: 'tcp:10.0.0.0/16' }, 'rules', 400],
    ['a missing rules field', {}, 'rules', 400],
    ['an unknown body field', { rules: [], revision: 3 }, 'revision', 400],
    ['another organisation in the body', { organization: 'globex', rules: [] }, 'organization', 400],
    ['a cidr with host bits', { rules: [{ cidr: '10.0.0.0/16', proto: 'tcp' }, { cidr: '10.0.0.1/16', proto: 'tcp' }] }, 'rules[1].cidr', 400],
    ['an unknown protocol', { rules: [{ cidr: '10.0.0.0/16', proto: 'icmp' }] }, 'rules[0].proto', 400],
    ['ports out of range', { rules: [{ cidr: '10.0.0.0/16', proto: 'udp', ports: '0-53' }] }, 'rules[0].ports', 400],
    ['ports with proto any', { rules: [{ cidr: '10.0.0.0/16', proto: 'any', ports: '22' }] }, 'rules[0].ports', 400],
    ['an unknown rule field', { rules: [{ cidr: '10.0.0.0/16', proto: 'tcp', port: '22' }] }, 'rules[0].port', 400],
    ['too many rules', { rules: Array.from({ length: 257 }, () => ({ cidr: '10.0.0.0/16', proto: 'any' })) }, 'rules', 400],
    ['a destination outside the egress routes', { rules: [{ cidr: '10.0.0.0/16', proto: 'tcp' }, { cidr: '172.16.0.0/12', proto: 'tcp' }] }, 'rules[1].cidr', 422],
    ['a destination wider than its route', { rules: [{ cidr: '10.0.0.0/15', proto: 'any' }] }, 'rules[0].cidr', 422],
  ])('refuses %s, naming %s, and writes nothing', async (_, body, field, status) => {
    const before = (await getPolicy('refusals')).body;
    const res = typeof body === 'string'
      ? await call('PUT', '/v1/egress-policies/refusals', { token: admin(), rawBody: body, headers: { 'content-type': 'application/json' } })
      : await putPolicy('refusals', body);
    expect(res.status).toBe(status);
    expect(res.headers.get('content-type')).toBe('application/problem+json');
    expect(res.body.errors.map((e: { field: string }) => e.field)).toContain(field);
    expect((await getPolicy('refusals')).body).toEqual(before);
  });

  test.each([
    ['starts with a dot', '.acme'],
    ['holds a space', 'ac%20me'],
    ['is too long', 'a'.repeat(65)],
  ])('an organisation name that %s is refused naming organization', async (_, org) => {
    for (const res of [await getPolicy(org), await putPolicy(org, { rules: [] })]) {
      expect(res.status).toBe(400);
      expect(res.body.errors[0].field).toBe('organization');
    }
  });

  test('If-Match: the write happens only at the revision named', async () => {
    expect((await putPolicy('initech', { rules: [] }, { ifMatch: '*' })).status).toBe(412);
    const created = await putPolicy('initech', { rules: [{ cidr: '10.0.1.0/24', proto: 'udp', ports: '53' }] }, { ifMatch: '"0"' });
    expect(created.status).toBe(200);
    expect(created.body.revision).toBe(1);
    expect((await putPolicy('initech', { rules: [] }, { ifMatch: '"0"' })).status).toBe(412);

    const next = await putPolicy('initech', { rules: [{ cidr: '10.0.2.0/24', proto: 'tcp', ports: '80' }] }, { ifMatch: created.headers.get('etag') as string });
    expect(next.status).toBe(200);
    expect(next.body.revision).toBe(2);

    const stale = await putPolicy('initech', { rules: [] }, { ifMatch: '"1"' });
    expect(stale.status).toBe(412);
    expect(stale.headers.get('content-type')).toBe('application/problem+json');
    expect(stale.body.errors[0].field).toBe('if-match');
    expect((await getPolicy('initech')).body).toMatchObject({ revision: 2, rules: [{ cidr: '10.0.2.0/24', proto: 'tcp', ports: '80' }] });

    expect((await putPolicy('initech', { rules: [] }, { ifMatch: '*' })).body.revision).toBe(3);
    const malformed = await putPolicy('initech', { rules: [] }, { ifMatch: 'three' });
    expect(malformed.status).toBe(400);
    expect(malformed.body.errors[0].field).toBe('if-match');
    expect((await getPolicy('initech')).body.revision).toBe(3);
  });

  test('only the admin reads and writes policies and routes', async () => {
    const host = await call('POST', '/v1/hosts', { token: admin(), body: { name: 'egress-auth', role: 'egress' } });
    const enrolled = await call('POST', '/v1/enroll', { body: { token: host.body.enrollment.token, publicKey: encodeX25519PublicKeyPem(generateX25519KeyPair().publicKey) } });
    expect(enrolled.status).toBe(200);
    for (const token of [null, enrolled.body.credential, 'gwa_not-the-admin-token']) {
      expect((await getPolicy('acme', token)).status).toBe(401);
      expect((await putPolicy('acme', { rules: [] }, { token: token ?? '' })).status).toBe(401);
      expect((await call('PUT', '/v1/network/egress-routes', { token: token ?? undefined, body: { routes: ROUTES } })).status).toBe(401);
    }
  });

  test('PUT /v1/network/egress-routes sets the routes and moves the config version; setting them again writes nothing', async () => {
    const before = await gw.store.getConfigVersion();
    const set = await call('PUT', '/v1/network/egress-routes', { token: admin(), body: { routes: ['172.31.0.0/16', '10.0.0.0/16', '192.168.1.0/24'] } });
    expect(set.status).toBe(200);
    expect(set.body).toEqual({ egressRoutes: ['10.0.0.0/16', '172.31.0.0/16', '192.168.1.0/24'] });
    expect((await call('GET', '/v1/network')).body.egressRoutes).toEqual(['10.0.0.0/16', '172.31.0.0/16', '192.168.1.0/24']);
    expect(await gw.store.getConfigVersion()).toBe(before + 1);
    expect((await call('PUT', '/v1/network/egress-routes', { token: admin(), body: { routes: ['192.168.1.0/24', '172.31.0.0/16', '10.0.0.0/16'] } })).status).toBe(200);
    expect(await gw.store.getConfigVersion()).toBe(before + 1);
    // Back to the routes the other tests use.
    expect((await call('PUT', '/v1/network/egress-routes', { token: admin(), body: { routes: ROUTES } })).status).toBe(200);
  });

  test.each([
    ['the default route', ['0.0.0.0/0'], 'routes[0]', "nebula's own underlay traffic"],
    ['a route overlapping the overlay', ['10.0.0.0/16', '10.42.0.0/24'], 'routes[1]', 'overlaps the overlay network 10.42.0.0/16'],
    ['a route with host bits', ['10.0.0.5/16'], 'routes[0]', 'host bits'],
    ['overlapping routes', ['10.0.0.0/16', '10.0.3.0/24'], 'routes[1]', 'overlaps routes[0]'],
    ['a route that is no CIDR', ['ten/8'], 'routes[0]', 'not an IPv4 address'],
    ['more than 64 routes', Array.from({ length: 65 }, (_, i) => `172.16.${i}.0/24`), 'routes', 'at most 64'],
    ['no list', '10.0.0.0/16', 'routes', ''],
  ])('refuses %s, naming %s, and writes nothing', async (_, routes, field, message) => {
    const version = await gw.store.getConfigVersion();
    const res = await call('PUT', '/v1/network/egress-routes', { token: admin(), body: { routes } });
    expect(res.status).toBe(400);
    expect(res.headers.get('content-type')).toBe('application/problem+json');
    expect(res.body.errors).toEqual([{ field, message: expect.stringContaining(message) }]);
    expect((await call('GET', '/v1/network')).body.egressRoutes).toEqual(ROUTES);
    expect(await gw.store.getConfigVersion()).toBe(version);
  });
});
