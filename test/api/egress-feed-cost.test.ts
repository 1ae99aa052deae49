import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { type Api, createApi, GatewayStore, hashSecret } from '../../src/api';
import { buildEgressFeed } from '../../src/api/egress-feed';
import { EGRESS_FEED_ROUTES } from '../../src/api/route-groups/egress';
import { encodeX25519PublicKeyPem, generateEd25519KeyPair, generateX25519KeyPair, LocalSigner } from '../../src/pki';
import { testDynamoClient } from '../support/dynamodb';
import { apiClient, startTestGateway, type TestGateway } from '../support/gateway';

/**
 * What a poll of the egress rule feed costs, against DynamoDB Local: the DynamoDB calls of each
 * request are counted by a middleware on the API instance's own client. An unchanged feed is one
 * GetItem (the egress version); every kind of change moves the version in its own transaction, so
 * two API instances on one table (two contexts, two clients) each serve it at their next request.
 */

const ROUTES = ['10.0.0.0/16', '192.168.1.0/24'];
const ALICE = { subject: 'alice@example.com', organization: 'acme' };
const BOB = { subject: 'bob@example.com', organization: 'globex' };

/** A DynamoDB client that records the name of every command it sends. */
function countedClient(): { client: DynamoDBClient; calls: string[] } {
  const client = testDynamoClient();
  const calls: string[] = [];
  client.middlewareStack.add(
    (next, context) => (args) => {
      calls.push(String(context.commandName).replace(/Command$/, ''));
      return next(args);
    },
    { step: 'initialize', name: 'countCalls' },
  );
  return { client, calls };
}

interface Instance {
  readonly api: Api;
  readonly calls: string[];
  readonly client: DynamoDBClient;
}

interface FeedBody {
  routes: string[];
  organizations: { organization: string; rules: { cidr: string; proto: string; ports: string }[]; members: { hostId: string; name: string; ip: string }[] }[];
}

describe('the egress rule feed costs one read when nothing changed', () => {
  let gw: TestGateway;
  let call: ReturnType<typeof apiClient>;
  let one: Instance;
  let two: Instance;
  let egress: { id: string; credential: string };

  const instance = (): Instance => {
    const { client, calls } = countedClient();
    const store = new GatewayStore({ client, tableName: gw.tableName });
    const api = createApi({ store, signer: new LocalSigner(generateEd25519KeyPair().privateKey), adminTokenHash: hashSecret(gw.adminToken) }, EGRESS_FEED_ROUTES);
    return { api, calls, client };
  };
  /** One poll through `at`, as the admin or as the egress node; the calls it made. */
  const poll = async (at: Instance, etag?: string, as: 'admin' | 'egress' = 'admin') => {
    at.calls.length = 0;
    const token = as === 'admin' ? gw.adminToken : egress.credential;
    const answer = await at.api({
      method: 'GET',
      path: '/v1/egress/rules',
      headers: { authorization: `Bearer ${token}`, ...(etag ? { 'if-none-match': etag } : {}) },
      query: as === 'admin' ? {} : { host: egress.id },
      body: Buffer.alloc(0),
    });
    return { status: answer.status, etag: answer.headers.etag as string, body: answer.body ? (JSON.parse(answer.body) as FeedBody) : undefined, calls: [...at.calls] };
  };
  const admin = (method: string, path: string, body?: unknown) => call(method, path, { token: gw.adminToken, body });
  const create = async (name: string, owner?: typeof ALICE) => {
    const res = await admin('POST', '/v1/hosts', { name, role: 'environment', ...(owner ? { owner } : {}) });
    expect(res.status).toBe(201);
    return res.body as { host: { id: string; ip: string; name: string }; enrollment: { token: string } };
  };
  const enroll = async (token: string) => {
    const res = await call('POST', '/v1/enroll', { body: { token, publicKey: encodeX25519PublicKeyPem(generateX25519KeyPair().publicKey) } });
    expect(res.status).toBe(200);
    return res.body as { hostId: string; credential: string };
  };
  const membersOf = (body: FeedBody | undefined, organization: string) => body?.organizations.find((o) => o.organization === organization)?.members.map((m) => m.hostId);

  /** After a change: both instances answer the last ETag with a new feed, the same one; then 304 for one GetItem. */
  let etag: string | undefined;
  const changed = async (): Promise<FeedBody> => {
    const [a, b] = [await poll(one, etag), await poll(two, etag)];
    expect([a.status, b.status]).toEqual([200, 200]);
    expect(a.etag).not.toBe(etag);
    expect(b.etag).toBe(a.etag);
    expect(b.body).toEqual(a.body);
    etag = a.etag;
    for (const at of [one, two]) expect(await poll(at, etag)).toMatchObject({ status: 304, calls: ['GetItem'] });
    return a.body as FeedBody;
  };

  beforeAll(async () => {
    gw = await startTestGateway({ egressRoutes: ROUTES });
    call = apiClient(gw.url);
    one = instance();
    two = instance();
    const { enrollment } = await (async () => {
      const res = await admin('POST', '/v1/hosts', { name: 'egress-1', role: 'egress' });
      expect(res.status).toBe(201);
      return res.body as { enrollment: { token: string } };
    })();
    const enrolled = await enroll(enrollment.token);
    egress = { id: enrolled.hostId, credential: enrolled.credential };
  });
  afterAll(async () => {
    for (const at of [one, two]) {
      at?.api.close();
      at?.client.destroy();
    }
    await gw?.close();
  });

  test('an unchanged poll is one GetItem (the admin), or for the egress node the read of its own host partition (its credential) and one GetItem; nothing scans or lists hosts', async () => {
    const first = await poll(one);
    expect(first.status).toBe(200);
    // The rebuild: the version, then the network item and the two partitions.
    expect([...first.calls].sort()).toEqual(['GetItem', 'GetItem', 'Query', 'Query']);
    etag = first.etag;
    expect(await poll(one, etag)).toMatchObject({ status: 304, calls: ['GetItem'] });
    expect(await poll(one)).toMatchObject({ status: 200, etag, calls: ['GetItem'], body: first.body });
    // The node's first call marks its credential used (a write, once); the polls after read two items.
    await poll(one, etag, 'egress');
    // The host is read with its last-seen item in one Query of its own partition (same read units as a GetItem).
    for (let i = 0; i < 3; i++) expect(await poll(one, etag, 'egress')).toMatchObject({ status: 304, calls: ['Query', 'GetItem'] });
  });

  test('every kind of change gives both instances a new ETag and the new content at their next poll', async () => {
    etag = (await poll(one)).etag;

    // A new environment with an owner is a member from its creation; its enrollment changes nothing.
    const alice = await create('env-alice', ALICE);
    expect(membersOf(await changed(), 'acme')).toEqual([alice.host.id]);
    await enroll(alice.enrollment.token);
    expect(await poll(two, etag)).toMatchObject({ status: 304, calls: ['GetItem'] });
    const bob = await create('env-bob', BOB);
    await enroll(bob.enrollment.token);
    expect(membersOf(await changed(), 'globex')).toEqual([bob.host.id]);

    const policy = [{ cidr: '10.0.5.0/24', proto: 'tcp', ports: '5432' }];
    expect((await admin('PUT', '/v1/egress-policies/acme', { rules: policy })).status).toBe(200);
    expect((await changed()).organizations.find((o) => o.organization === 'acme')?.rules).toEqual(policy);

    // An owner moved to another organisation leaves the old one's members at once.
    expect((await admin('PATCH', `/v1/hosts/${bob.host.id}`, { owner: { ...BOB, organization: 'acme' } })).status).toBe(200);
    const moved = await changed();
    expect(membersOf(moved, 'acme')).toEqual([alice.host.id, bob.host.id].sort());
    expect(moved.organizations.map((o) => o.organization)).toEqual(['acme']);

    // Routes that no longer hold a rule take it out of the feed.
    expect((await admin('PUT', '/v1/network/egress-routes', { routes: ['192.168.1.0/24'] })).status).toBe(200);
    const narrowed = await changed();
    expect(narrowed.routes).toEqual(['192.168.1.0/24']);
    expect(narrowed.organizations[0].rules).toEqual([]);

    expect((await admin('DELETE', `/v1/hosts/${alice.host.id}`)).status).toBe(200);
    expect(membersOf(await changed(), 'acme')).toEqual([bob.host.id]);
  });

  test('writes that do not change the feed do not rebuild it: an environment without an owner, ports, a revoked egress node', async () => {
    etag = (await poll(one)).etag;
    const ownerless = await create('env-ownerless');
    await enroll(ownerless.enrollment.token);
    const owned = await create('env-ports', ALICE);
    etag = (await poll(one, etag)).etag;
    expect((await admin('PUT', `/v1/hosts/${owned.host.id}/ports/3000`, { access: 'private', protocol: 'http' })).status).toBe(200);
    const other = await admin('POST', '/v1/hosts', { name: 'egress-2', role: 'egress' });
    expect(other.status).toBe(201);
    expect((await admin('DELETE', `/v1/hosts/${other.body.host.id}`)).status).toBe(200);
    expect(await poll(one, etag)).toMatchObject({ status: 304, calls: ['GetItem'] });
  });

  test('concurrent policy PUTs without If-Match each take a revision of their own, and the feed shows the last', async () => {
    etag = (await poll(one)).etag;
    const before = (await gw.store.getEgressPolicy('globex'))?.revision ?? 0;
    const written = await Promise.all(
      Array.from({ length: 5 }, (_, i) => gw.store.putEgressPolicy({ organization: 'globex', rules: [{ cidr: `192.168.1.${i}/32`, proto: 'udp', ports: '53' }], now: new Date() })),
    );
    expect(written.map((p) => p.revision).sort()).toEqual([1, 2, 3, 4, 5].map((n) => before + n));
    const last = written.find((p) => p.revision === before + 5)!;
    expect((await gw.store.getEgressPolicy('globex'))?.rules).toEqual(last.rules);
    expect((await changed()).organizations.find((o) => o.organization === 'globex')?.rules).toEqual(last.rules);
  });
});

describe('buildEgressFeed', () => {
  const member = (hostId: string, organization: string) => ({ hostId, name: `n-${hostId}`, ip: `10.42.0.${hostId.length}`, organization });
  const policy = (organization: string, rules: { cidr: string; proto: 'tcp' | 'udp' | 'any'; ports: string }[]) => ({ organization, rules, revision: 1 });

  test.each([
    {
      what: 'an organisation with members and no policy gets no rules',
      input: { routes: ROUTES, policies: [], members: [member('h-b', 'globex')] },
      organizations: [{ organization: 'globex', rules: [], members: [{ hostId: 'h-b', name: 'n-h-b', ip: '10.42.0.3' }] }],
    },
    {
      what: 'a policy without members is listed; rules outside the routes are left out',
      input: { routes: ['10.0.0.0/16'], policies: [policy('acme', [{ cidr: '10.0.5.0/24', proto: 'tcp', ports: '5432' }, { cidr: '172.16.0.0/24', proto: 'any', ports: 'any' }])], members: [] },
      organizations: [{ organization: 'acme', rules: [{ cidr: '10.0.5.0/24', proto: 'tcp', ports: '5432' }], members: [] }],
    },
    {
      what: 'organisations by name, members by host id',
      input: { routes: ROUTES, policies: [], members: [member('h-zz', 'b'), member('h-y', 'a'), member('h-x', 'b')] },
      organizations: [
        { organization: 'a', rules: [], members: [{ hostId: 'h-y', name: 'n-h-y', ip: '10.42.0.3' }] },
        { organization: 'b', rules: [], members: [{ hostId: 'h-x', name: 'n-h-x', ip: '10.42.0.3' }, { hostId: 'h-zz', name: 'n-h-zz', ip: '10.42.0.4' }] },
      ],
    },
  ])('$what', ({ input, organizations }) => {
    expect(buildEgressFeed(input).organizations).toEqual(organizations);
  });

  test('the version is a hash of the content: the same input in another order names the same feed', () => {
    const members = [member('h-a', 'acme'), member('h-b', 'acme')];
    const a = buildEgressFeed({ routes: ROUTES, policies: [], members });
    expect(buildEgressFeed({ routes: ROUTES, policies: [], members: [...members].reverse() }).version).toBe(a.version);
    expect(buildEgressFeed({ routes: ROUTES, policies: [], members: members.slice(1) }).version).not.toBe(a.version);
  });
});
