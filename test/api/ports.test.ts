import { apiClient, startTestGateway, type TestGateway } from '../support/gateway';

/** Owners and ports of hosts over real HTTP, against DynamoDB Local. */

const ALICE = { subject: 'alice@example.com', organization: 'acme' };

describe('host owners and ports', () => {
  let gw: TestGateway;
  let call: ReturnType<typeof apiClient>;
  const admin = () => gw.adminToken;

  beforeAll(async () => {
    gw = await startTestGateway();
    call = apiClient(gw.url);
  });
  afterAll(async () => {
    await gw?.close();
  });

  const create = async (body: Record<string, unknown>) => {
    const res = await call('POST', '/v1/hosts', { token: admin(), body });
    expect(res.status).toBe(201);
    return res.body.host as { id: string; ip: string; owner?: typeof ALICE; ports?: unknown[] };
  };
  const hostOf = async (id: string) => (await call('GET', `/v1/hosts/${id}`, { token: admin() })).body.host;
  const put = (id: string, port: number | string, body: unknown, token = admin()) => call('PUT', `/v1/hosts/${id}/ports/${port}`, { token, body });
  const del = (id: string, port: number | string, token = admin()) => call('DELETE', `/v1/hosts/${id}/ports/${port}`, { token });

  test('an environment has an owner and publishes, changes and withdraws ports', async () => {
    const env = await create({ name: 'env-ports', role: 'environment', owner: ALICE });
    expect(env.owner).toEqual(ALICE);
    expect(env.ports).toEqual([]);
    const before = await gw.store.getRoutesVersion();

    const web = await put(env.id, 3000, { access: 'private' });
    expect(web.status).toBe(200);
    expect(web.body).toEqual({ port: 3000, access: 'private', protocol: 'http' });
    expect((await put(env.id, 8443, { access: 'organization', protocol: 'https' })).status).toBe(200);
    expect((await put(env.id, 80, { access: 'public' })).status).toBe(200);
    expect((await hostOf(env.id)).ports).toEqual([
      { port: 80, access: 'public', protocol: 'http' },
      { port: 3000, access: 'private', protocol: 'http' },
      { port: 8443, access: 'organization', protocol: 'https' },
    ]);
    expect(await gw.store.getRoutesVersion()).toBe(before + 3);

    // Setting what is set writes nothing; changing writes.
    expect((await put(env.id, 3000, { access: 'private', protocol: 'http' })).status).toBe(200);
    expect(await gw.store.getRoutesVersion()).toBe(before + 3);
    expect((await put(env.id, 3000, { access: 'public' })).body).toEqual({ port: 3000, access: 'public', protocol: 'http' });
    expect(await gw.store.getRoutesVersion()).toBe(before + 4);

    const removed = await del(env.id, 80);
    expect(removed.status).toBe(204);
    expect(removed.text).toBe('');
    expect((await hostOf(env.id)).ports.map((p: { port: number }) => p.port)).toEqual([3000, 8443]);
    expect((await del(env.id, 80)).status).toBe(404);
    expect(await gw.store.listRoutes()).toEqual([
      { hostId: env.id, ip: env.ip, owner: ALICE, ports: [
        { port: 3000, access: 'public', protocol: 'http' },
        { port: 8443, access: 'organization', protocol: 'https' },
      ] },
    ]);

    // The last port gone, the host leaves the route table.
    expect((await del(env.id, 3000)).status).toBe(204);
    expect((await del(env.id, 8443)).status).toBe(204);
    expect((await gw.store.listRoutes()).find((r) => r.hostId === env.id)).toBeUndefined();
  });

  test('ports are refused for unknown, revoked, non-environment and owner-less hosts', async () => {
    expect((await put('h-aaaaaaaaaaaaaaaa', 3000, { access: 'public' })).status).toBe(404);
    expect((await del('h-aaaaaaaaaaaaaaaa', 3000)).status).toBe(404);

    const proxy = await create({ name: 'proxy-ports', role: 'proxy' });
    const notEnv = await put(proxy.id, 3000, { access: 'public' });
    expect(notEnv.status).toBe(409);
    expect(notEnv.body.type).toMatch(/not-an-environment$/);

    const ownerless = await create({ name: 'env-ownerless', role: 'environment' });
    expect(ownerless.owner).toBeUndefined();
    const noOwner = await put(ownerless.id, 3000, { access: 'public' });
    expect(noOwner.status).toBe(409);
    expect(noOwner.body.type).toMatch(/no-owner$/);

    const env = await create({ name: 'env-revoked', role: 'environment', owner: ALICE });
    expect((await put(env.id, 3000, { access: 'public' })).status).toBe(200);
    expect((await gw.store.listRoutes()).some((r) => r.hostId === env.id)).toBe(true);
    const versionBefore = await gw.store.getRoutesVersion();
    expect((await call('DELETE', `/v1/hosts/${env.id}`, { token: admin() })).status).toBe(200);
    // Revocation takes the host's ports out of the route table and moves its version.
    expect((await gw.store.listRoutes()).some((r) => r.hostId === env.id)).toBe(false);
    expect(await gw.store.getRoutesVersion()).toBeGreaterThan(versionBefore);
    const revoked = await put(env.id, 3001, { access: 'public' });
    expect(revoked.status).toBe(409);
    expect(revoked.body.type).toMatch(/host-revoked$/);
    expect((await del(env.id, 3000)).status).toBe(409);
    expect((await gw.store.listRoutes()).some((r) => r.hostId === env.id)).toBe(false);
  });

  test('bad input names the field and writes nothing', async () => {
    const env = await create({ name: 'env-bad', role: 'environment', owner: ALICE });
    expect((await put(env.id, 3000, { access: 'private' })).status).toBe(200);
    const version = await gw.store.getRoutesVersion();
    const cases: [string | number, unknown, string][] = [
      [0, { access: 'public' }, 'port'],
      [65536, { access: 'public' }, 'port'],
      ['03000', { access: 'public' }, 'port'],
      ['-1', { access: 'public' }, 'port'],
      ['http', { access: 'public' }, 'port'],
      [3000, { access: 'everyone' }, 'access'],
      [3000, {}, 'access'],
      [3000, { access: 'public', protocol: 'ftp' }, 'protocol'],
      [3000, { access: 'public', extra: 1 }, 'extra'],
      [3000, ['public'], 'body'],
    ];
    for (const [port, body, field] of cases) {
      const res = await put(env.id, port, body);
      expect({ port, body, status: res.status }).toEqual({ port, body, status: 400 });
      expect(res.headers.get('content-type')).toBe('application/problem+json');
      expect(res.body.errors.map((e: { field: string }) => e.field)).toContain(field);
    }
    const malformed = await call('PUT', `/v1/hosts/${env.id}/ports/3000`, { token: admin(), rawBody: '{"access":' });
    expect(malformed.status).toBe(400);
    expect(malformed.body.errors[0].field).toBe('body');
    expect((await del(env.id, 70000)).body.errors[0].field).toBe('port');

    const owners: [unknown, string][] = [
      [{ subject: '', organization: 'acme' }, 'owner.subject'],
      [{ subject: 'alice', organization: 'ac me' }, 'owner.organization'],
      [{ subject: 'a'.repeat(129), organization: 'acme' }, 'owner.subject'],
      [{ subject: 'alice<script>', organization: 'acme' }, 'owner.subject'],
      [{ subject: 'alice' }, 'owner.organization'],
      [{ subject: 'alice', organization: 'acme', role: 'x' }, 'owner.role'],
      ['alice', 'owner'],
    ];
    for (const [owner, field] of owners) {
      const res = await call('POST', '/v1/hosts', { token: admin(), body: { name: 'env-bad-owner', role: 'environment', owner } });
      expect({ owner, status: res.status }).toEqual({ owner, status: 400 });
      expect(res.body.errors.map((e: { field: string }) => e.field)).toContain(field);
    }
    const lighthouseOwner = await call('POST', '/v1/hosts', { token: admin(), body: { name: 'lh-owner', role: 'lighthouse', owner: ALICE } });
    expect(lighthouseOwner.status).toBe(400);
    expect(lighthouseOwner.body.errors[0].field).toBe('owner');

    expect((await hostOf(env.id)).ports).toEqual([{ port: 3000, access: 'private', protocol: 'http' }]);
    expect(await gw.store.getRoutesVersion()).toBe(version);
    const names = (await call('GET', '/v1/hosts?limit=1000', { token: admin() })).body.hosts.map((h: { name: string }) => h.name);
    expect(names).not.toContain('env-bad-owner');
    expect(names).not.toContain('lh-owner');
  });

  test('port routes need the admin token', async () => {
    const env = await create({ name: 'env-auth', role: 'environment', owner: ALICE });
    const version = await gw.store.getRoutesVersion();
    for (const token of [undefined, 'gwa_wrong', 'gwh_not-a-credential']) {
      const res = await call('PUT', `/v1/hosts/${env.id}/ports/3000`, { token, body: { access: 'public' } });
      expect(res.status).toBe(401);
      expect(res.body.errors[0].field).toBe('authorization');
      expect((await call('DELETE', `/v1/hosts/${env.id}/ports/3000`, { token })).status).toBe(401);
    }
    expect((await hostOf(env.id)).ports).toEqual([]);
    expect(await gw.store.getRoutesVersion()).toBe(version);
  });
});
