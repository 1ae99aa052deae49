/**
 * What identifies a host, held at any concurrency: one public key belongs to one host for good
 * (409 naming `publicKey`, even after that host's revocation), a name to one host that is not
 * revoked (409 naming `name`), and an environment's owner can be set after creation
 * (`PATCH /v1/hosts/{id}`), which the proxies' route table follows. Every refusal writes nothing.
 */
import { encodeX25519PublicKeyPem, generateX25519KeyPair } from '../../src/pki';
import { scanAll, testDynamoClient } from '../support/dynamodb';
import { apiClient, type HttpResult, startTestGateway, type TestGateway } from '../support/gateway';

const newKey = () => encodeX25519PublicKeyPem(generateX25519KeyPair().publicKey);

describe('host identity: keys, names, owners', () => {
  let gw: TestGateway;
  let call: ReturnType<typeof apiClient>;
  const client = testDynamoClient();

  beforeAll(async () => {
    gw = await startTestGateway({ enrollmentTokenTtlSeconds: 600 });
    call = apiClient(gw.url);
  });

  afterAll(async () => {
    await gw?.close();
    client.destroy();
  });

  const admin = () => gw.adminToken;
  const create = async (body: Record<string, unknown>) => {
    const res = await call('POST', '/v1/hosts', { token: admin(), body });
    expect({ status: res.status, body: res.body }).toEqual({ status: 201, body: expect.anything() });
    return res.body as { host: { id: string; name: string }; enrollment: { token: string } };
  };
  const enroll = (token: string, publicKey: string) => call('POST', '/v1/enroll', { body: { token, publicKey } });
  const enrolled = async (name: string, publicKey = newKey()) => {
    const created = await create({ name, role: 'environment', owner: { subject: 'alice', organization: 'acme' } });
    const res = await enroll(created.enrollment.token, publicKey);
    expect(res.status).toBe(200);
    // The credential's first use kills the enrollment token (a write of its own): done here, before the refusals.
    expect((await call('GET', `/v1/hosts/${created.host.id}/config`, { token: res.body.credential })).status).toBe(200);
    return { id: created.host.id, credential: res.body.credential as string, publicKey };
  };

  /** Runs a request and checks it is refused with `status`, naming `field`, with the table unchanged. */
  async function refused(status: number, field: string, request: () => Promise<HttpResult>): Promise<HttpResult> {
    const before = await scanAll(client, gw.tableName);
    const res = await request();
    expect({ status: res.status, type: res.headers.get('content-type') }).toEqual({ status, type: 'application/problem+json' });
    expect(res.body.errors.map((e: { field: string }) => e.field)).toContain(field);
    expect(await scanAll(client, gw.tableName)).toEqual(before);
    return res;
  }

  describe('public keys', () => {
    test("another host's key is refused on enrollment and renewal; the host's own key renews", async () => {
      const a = await enrolled('key-a');
      const b = await enrolled('key-b');
      const c = await create({ name: 'key-c', role: 'environment' });
      const taken = await refused(409, 'publicKey', () => enroll(c.enrollment.token, a.publicKey));
      expect(taken.body.type).toBe('urn:nebula-gateway:problem:public-key-taken');
      await refused(409, 'publicKey', () => call('POST', `/v1/hosts/${b.id}/renew`, { token: b.credential, body: { publicKey: a.publicKey } }));
      // c's token still works with a key of its own; a renews with its own key, explicitly or not.
      expect((await enroll(c.enrollment.token, newKey())).status).toBe(200);
      expect((await call('POST', `/v1/hosts/${a.id}/renew`, { token: a.credential, body: { publicKey: a.publicKey } })).status).toBe(200);
      expect((await call('POST', `/v1/hosts/${a.id}/renew`, { token: a.credential })).status).toBe(200);
    });

    test("a key a host rotated away from stays that host's", async () => {
      const a = await enrolled('rotating');
      const next = newKey();
      expect((await call('POST', `/v1/hosts/${a.id}/renew`, { token: a.credential, body: { publicKey: next } })).status).toBe(200);
      const other = await create({ name: 'wants-old-key', role: 'environment' });
      await refused(409, 'publicKey', () => enroll(other.enrollment.token, a.publicKey));
      // Going back to its own earlier key is fine.
      expect((await call('POST', `/v1/hosts/${a.id}/renew`, { token: a.credential, body: { publicKey: a.publicKey } })).status).toBe(200);
    });

    test("a revoked host's key is never reusable", async () => {
      const a = await enrolled('revoked-key');
      expect((await call('DELETE', `/v1/hosts/${a.id}`, { token: admin() })).status).toBe(200);
      const other = await create({ name: 'after-revocation', role: 'environment' });
      await refused(409, 'publicKey', () => enroll(other.enrollment.token, a.publicKey));
    });

    test('hosts enrolling concurrently with one key: exactly one succeeds', async () => {
      const key = newKey();
      const hosts = await Promise.all(Array.from({ length: 6 }, (_, i) => create({ name: `race-key-${i}`, role: 'environment' })));
      const results = await Promise.all(hosts.map((h) => enroll(h.enrollment.token, key)));
      expect(results.map((r) => r.status).sort()).toEqual([200, 409, 409, 409, 409, 409]);
      for (const r of results.filter((x) => x.status === 409)) expect(r.body.errors[0].field).toBe('publicKey');
      const winner = results.find((r) => r.status === 200)!.body.hostId;
      const pending = hosts.filter((h) => h.host.id !== winner);
      for (const h of pending) expect((await call('GET', `/v1/hosts/${h.host.id}`, { token: admin() })).body.host.status).toBe('pending');
    });
  });

  describe('names', () => {
    test('a name held by a host that is not revoked is refused, ignoring case; revocation frees it', async () => {
      const first = await create({ name: 'dev-env', role: 'environment' });
      const res = await refused(409, 'name', () => call('POST', '/v1/hosts', { token: admin(), body: { name: 'dev-env', role: 'proxy' } }));
      expect(res.body.type).toBe('urn:nebula-gateway:problem:name-taken');
      await refused(409, 'name', () => call('POST', '/v1/hosts', { token: admin(), body: { name: 'DEV-ENV', role: 'environment' } }));
      expect((await call('DELETE', `/v1/hosts/${first.host.id}`, { token: admin() })).status).toBe(200);
      const again = await create({ name: 'Dev-Env', role: 'environment' });
      expect(again.host.name).toBe('Dev-Env');
      await refused(409, 'name', () => call('POST', '/v1/hosts', { token: admin(), body: { name: 'dev-env', role: 'environment' } }));
    });

    test('creating one name concurrently: exactly one host, and no address lost to the losers', async () => {
      const results = await Promise.all(Array.from({ length: 6 }, () => call('POST', '/v1/hosts', { token: admin(), body: { name: 'race-name', role: 'environment' } })));
      expect(results.map((r) => r.status).sort()).toEqual([201, 409, 409, 409, 409, 409]);
      const hosts = (await call('GET', '/v1/hosts?limit=1000', { token: admin() })).body.hosts.filter((h: { name: string }) => h.name === 'race-name');
      expect(hosts).toHaveLength(1);
      // Every address numbered so far has a lease (held, quarantined, or free in the pool): none is
      // leaked by a loser. No host in this file asks for an address, so all came from the counter.
      const items = await scanAll(client, gw.tableName);
      const counter = Number(items.find((i) => i.pk === 'NETWORK' && i.sk === 'IPCOUNTER')!.next);
      const leases = items.filter((i) => String(i.pk).startsWith('LEASE#'));
      const free = leases.filter((i) => i.state === 'free').map((i) => i.ip);
      expect(leases).toHaveLength(counter);
      expect(items.filter((i) => i.pk === 'POOL').map((i) => i.ip).sort()).toEqual([...free].sort());
    });
  });

  describe('PATCH /v1/hosts/{id} {owner}', () => {
    const patch = (id: string, body: unknown, token = admin()) => call('PATCH', `/v1/hosts/${id}`, { token, body });

    test("sets an environment's owner; the proxies' route table follows", async () => {
      const created = await create({ name: 'ownerless', role: 'environment' });
      const id = created.host.id;
      // No owner, no published port.
      expect((await call('PUT', `/v1/hosts/${id}/ports/3000`, { token: admin(), body: { access: 'private' } })).status).toBe(409);
      const set = await patch(id, { owner: { subject: 'bob', organization: 'acme' } });
      expect(set.status).toBe(200);
      expect(set.body.host.owner).toEqual({ subject: 'bob', organization: 'acme' });
      expect((await call('PUT', `/v1/hosts/${id}/ports/3000`, { token: admin(), body: { access: 'private' } })).status).toBe(200);
      const routes1 = (await call('GET', '/v1/routes', { token: admin() })).body;
      expect(routes1.routes.find((h: { hostId: string }) => h.hostId === id).owner).toEqual({ subject: 'bob', organization: 'acme' });
      const moved = await patch(id, { owner: { subject: 'carol', organization: 'other' } });
      expect(moved.body.host).toMatchObject({ owner: { subject: 'carol', organization: 'other' }, ports: [{ port: 3000, access: 'private', protocol: 'http' }] });
      const routes2 = (await call('GET', '/v1/routes', { token: admin() })).body;
      expect(routes2.routes.find((h: { hostId: string }) => h.hostId === id).owner).toEqual({ subject: 'carol', organization: 'other' });
      expect(routes2.version).not.toBe(routes1.version);
      expect((await call('GET', `/v1/hosts/${id}`, { token: admin() })).body.host.owner).toEqual({ subject: 'carol', organization: 'other' });
      // The same owner again writes nothing.
      const before = await scanAll(client, gw.tableName);
      expect((await patch(id, { owner: { subject: 'carol', organization: 'other' } })).status).toBe(200);
      expect(await scanAll(client, gw.tableName)).toEqual(before);
    });

    test('owner changes racing port changes all land, none lost', async () => {
      const created = await create({ name: 'busy', role: 'environment', owner: { subject: 'a0', organization: 'acme' } });
      const id = created.host.id;
      const ports = [3001, 3002, 3003];
      const results = await Promise.all([
        ...ports.map((port) => call('PUT', `/v1/hosts/${id}/ports/${port}`, { token: admin(), body: { access: 'organization' } })),
        patch(id, { owner: { subject: 'z9', organization: 'acme' } }),
      ]);
      expect(results.map((r) => r.status)).toEqual([200, 200, 200, 200]);
      const host = (await call('GET', `/v1/hosts/${id}`, { token: admin() })).body.host;
      expect(host.owner).toEqual({ subject: 'z9', organization: 'acme' });
      expect(host.ports.map((p: { port: number }) => p.port)).toEqual(ports);
      const route = (await call('GET', '/v1/routes', { token: admin() })).body.routes.find((h: { hostId: string }) => h.hostId === id);
      expect(route).toMatchObject({ owner: { subject: 'z9', organization: 'acme' }, ports: ports.map((port) => expect.objectContaining({ port })) });
    });

    test('bad input names the field and writes nothing', async () => {
      const env = await create({ name: 'patch-env', role: 'environment' });
      const proxy = await create({ name: 'patch-proxy', role: 'proxy' });
      const revoked = await create({ name: 'patch-revoked', role: 'environment' });
      expect((await call('DELETE', `/v1/hosts/${revoked.host.id}`, { token: admin() })).status).toBe(200);
      const owner = { subject: 'alice', organization: 'acme' };
      await refused(400, 'owner', () => patch(env.host.id, {}));
      await refused(400, 'owner.subject', () => patch(env.host.id, { owner: { subject: 'bad subject', organization: 'acme' } }));
      await refused(400, 'owner.organization', () => patch(env.host.id, { owner: { subject: 'alice' } }));
      await refused(400, 'owner.extra', () => patch(env.host.id, { owner: { ...owner, extra: 1 } }));
      await refused(400, 'name', () => patch(env.host.id, { owner, name: 'renamed' }));
      await refused(400, 'body', () => call('PATCH', `/v1/hosts/${env.host.id}`, { token: admin(), rawBody: '{', headers: { 'content-type': 'application/json' } }));
      await refused(400, 'owner', () => patch(proxy.host.id, { owner }));
      await refused(401, 'authorization', () => patch(env.host.id, { owner }, 'gwa_wrong'));
      await refused(401, 'authorization', () => call('PATCH', `/v1/hosts/${env.host.id}`, { body: { owner } }));
      const gone = await patch(revoked.host.id, { owner });
      expect([gone.status, gone.body.type]).toEqual([409, 'urn:nebula-gateway:problem:host-revoked']);
      const before = await scanAll(client, gw.tableName);
      expect((await patch('h-aaaaaaaaaaaaaaaa', { owner })).status).toBe(404);
      expect(await scanAll(client, gw.tableName)).toEqual(before);
    });
  });
});
