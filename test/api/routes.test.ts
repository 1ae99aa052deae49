import { parseRouteTable } from '../../src/mesh/routes';
import { encodeX25519PublicKeyPem, generateX25519KeyPair } from '../../src/pki';
import { apiClient, startTestGateway, type TestGateway } from '../support/gateway';

/** `GET /v1/routes` over real HTTP: content, ETags, long-polls, and who may read it. */

const ALICE = { subject: 'alice', organization: 'acme' };
const BOB = { subject: 'bob', organization: 'acme' };

describe('the proxies route table', () => {
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
    return res.body as { host: { id: string; ip: string }; enrollment: { token: string } };
  };
  /** A host enrolled with a key of its own; returns its id and credential. */
  const enrolled = async (name: string, role: string) => {
    const created = await create({ name, role });
    const publicKey = encodeX25519PublicKeyPem(generateX25519KeyPair().publicKey);
    const res = await call('POST', '/v1/enroll', { body: { token: created.enrollment.token, publicKey } });
    expect(res.status).toBe(200);
    return { id: created.host.id as string, credential: res.body.credential as string };
  };
  const put = (id: string, port: number, access: string) =>
    call('PUT', `/v1/hosts/${id}/ports/${port}`, { token: admin(), body: { access } }).then((r) => expect(r.status).toBe(200));

  test('lists environments with ports, with an ETag, 304s and a long-poll woken by a port change', async () => {
    const empty = await call('GET', '/v1/routes', { token: admin() });
    expect(empty.status).toBe(200);
    expect(empty.body.routes).toEqual([]);

    const a = (await create({ name: 'env-a', role: 'environment', owner: ALICE })).host;
    const b = (await create({ name: 'env-b', role: 'environment', owner: BOB })).host;
    await create({ name: 'env-no-ports', role: 'environment', owner: BOB });
    await put(a.id, 3000, 'private');
    await put(a.id, 80, 'public');
    await put(b.id, 5173, 'organization');

    const res = await call('GET', '/v1/routes', { token: admin() });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/json');
    const table = parseRouteTable(res.body);
    expect(res.headers.get('etag')).toBe(`"${table.version}"`);
    expect(table.version).not.toBe(empty.body.version);
    const expected = [
      { hostId: a.id, ip: a.ip, owner: ALICE, ports: [{ port: 80, access: 'public', protocol: 'http' }, { port: 3000, access: 'private', protocol: 'http' }] },
      { hostId: b.id, ip: b.ip, owner: BOB, ports: [{ port: 5173, access: 'organization', protocol: 'http' }] },
    ].sort((x, y) => (x.hostId < y.hostId ? -1 : 1));
    expect(table.routes).toEqual(expected);

    const etag = res.headers.get('etag')!;
    const again = await call('GET', '/v1/routes', { token: admin(), headers: { 'if-none-match': etag } });
    expect(again.status).toBe(304);
    expect(again.headers.get('etag')).toBe(etag);
    // No change, no new version.
    expect((await call('GET', '/v1/routes', { token: admin() })).headers.get('etag')).toBe(etag);

    // A long-poll with the current ETag is held until a port changes, then answers the new table.
    const polling = call('GET', '/v1/routes?wait=30', { token: admin(), headers: { 'if-none-match': etag } });
    let answered = false;
    void polling.then(() => (answered = true));
    await new Promise((r) => setTimeout(r, 300));
    expect(answered).toBe(false);
    await put(b.id, 5173, 'public');
    const woken = await polling;
    expect(woken.status).toBe(200);
    expect(woken.headers.get('etag')).not.toBe(etag);
    expect(woken.body.routes.find((r: { hostId: string }) => r.hostId === b.id).ports).toEqual([{ port: 5173, access: 'public', protocol: 'http' }]);

    // A change another gateway instance made (straight in the store) wakes the long-poll by the version poll.
    const current = woken.headers.get('etag')!;
    const polling2 = call('GET', '/v1/routes?wait=30', { token: admin(), headers: { 'if-none-match': current } });
    await new Promise((r) => setTimeout(r, 200));
    const host = (await gw.store.getHost(b.id))!;
    await gw.store.replacePorts(host, []);
    const woken2 = await polling2;
    expect(woken2.status).toBe(200);
    expect(woken2.body.routes.map((r: { hostId: string }) => r.hostId)).toEqual([a.id]);

    // A wait that ends without a change answers 304.
    const idle = await call('GET', '/v1/routes?wait=1', { token: admin(), headers: { 'if-none-match': woken2.headers.get('etag')! } });
    expect(idle.status).toBe(304);
  });

  test('a proxy reads it with its own credential; other hosts and bad tokens are refused', async () => {
    const proxy = await enrolled('proxy-1', 'proxy');
    const env = await enrolled('env-reader', 'environment');
    const lighthouse = await enrolled('lh-reader', 'lighthouse');

    const ok = await call('GET', `/v1/routes?host=${proxy.id}`, { token: proxy.credential });
    expect(ok.status).toBe(200);
    parseRouteTable(ok.body);

    for (const other of [env, lighthouse]) {
      const res = await call('GET', `/v1/routes?host=${other.id}`, { token: other.credential });
      expect(res.status).toBe(403);
      expect(res.headers.get('content-type')).toBe('application/problem+json');
    }
    // A proxy credential presented for another host, or a host credential without ?host=.
    expect((await call('GET', `/v1/routes?host=${env.id}`, { token: proxy.credential })).status).toBe(401);
    const noHost = await call('GET', '/v1/routes', { token: proxy.credential });
    expect(noHost.status).toBe(400);
    expect(noHost.body.errors[0].field).toBe('host');

    for (const token of [undefined, 'gwa_wrong', 'gwe_enrollment', 'something-else']) {
      const res = await call('GET', '/v1/routes', { token });
      expect({ token, status: res.status }).toEqual({ token, status: 401 });
      expect(res.body.errors[0].field).toBe('authorization');
      expect(res.headers.get('www-authenticate')).toBe('Bearer');
    }

    // A revoked proxy's credential is dead.
    expect((await call('DELETE', `/v1/hosts/${proxy.id}`, { token: admin() })).status).toBe(200);
    expect((await call('GET', `/v1/routes?host=${proxy.id}`, { token: proxy.credential })).status).toBe(401);
  });

  test('bad query parameters are named', async () => {
    for (const [query, field] of [['wait=61', 'wait'], ['wait=-1', 'wait'], ['wait=soon', 'wait'], [`host=${'h'.repeat(65)}`, 'host']]) {
      const res = await call('GET', `/v1/routes?${query}`, { token: admin() });
      expect({ query, status: res.status }).toEqual({ query, status: 400 });
      expect(res.body.errors[0].field).toBe(field);
    }
    expect((await call('POST', '/v1/routes', { token: admin(), body: {} })).status).toBe(405);
  });
});
