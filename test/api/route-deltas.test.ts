/**
 * `GET /v1/routes?since=<version>` over real HTTP against DynamoDB Local: deltas in order, a gap
 * or a stale/unknown version answered with the whole table and its reason, bad versions named,
 * and the proxy's RouteSource following random sequences of route changes through deltas to the
 * same table a full fetch gives.
 */
import { DeleteCommand } from '@aws-sdk/lib-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { parseRouteTable, parseRouteUpdate, type RouteEntry, type RouteTable } from '../../src/mesh/routes';
import { HttpRouteSource } from '../../src/proxy/route-source';
import { formatRoutesVersion } from '../../src/api/route-table';
import { keys } from '../../src/store';
import { testDynamoClient } from '../support/dynamodb';
import { apiClient, startTestGateway, type TestGateway } from '../support/gateway';
import { waitUntil } from '../support/wait';

const ALICE = { subject: 'alice', organization: 'acme' };
const BOB = { subject: 'bob', organization: 'globex' };
const byHost = (routes: readonly RouteEntry[]) => [...routes].sort((a, b) => (a.hostId < b.hostId ? -1 : 1));

describe('route table deltas', () => {
  let gw: TestGateway;
  let call: ReturnType<typeof apiClient>;
  const client = testDynamoClient();
  const doc = DynamoDBDocumentClient.from(client);
  const admin = () => gw.adminToken;

  beforeAll(async () => {
    gw = await startTestGateway();
    call = apiClient(gw.url);
  });
  afterAll(async () => {
    await gw?.close();
    client.destroy();
  });

  const env = async (name: string, owner = ALICE) => {
    const res = await call('POST', '/v1/hosts', { token: admin(), body: { name, role: 'environment', owner } });
    expect(res.status).toBe(201);
    return res.body.host as { id: string; ip: string };
  };
  const put = async (id: string, port: number, access: string, protocol = 'http') =>
    expect((await call('PUT', `/v1/hosts/${id}/ports/${port}`, { token: admin(), body: { access, protocol } })).status).toBe(200);
  const table = async () => parseRouteTable((await call('GET', '/v1/routes', { token: admin() })).body);
  const since = (version: string, wait?: number) => call('GET', `/v1/routes?since=${encodeURIComponent(version)}${wait ? `&wait=${wait}` : ''}`, { token: admin() });
  const deleteChange = (seq: number) => doc.send(new DeleteCommand({ TableName: gw.store.tableName, Key: keys.routeChange(seq) }));

  test('the changes since a version, collapsed per host, in order; held while there are none', async () => {
    const a = await env('delta-a');
    const b = await env('delta-b', BOB);
    const start = await table();
    await put(a.id, 3000, 'private');
    await put(b.id, 8080, 'organization');
    await put(a.id, 3000, 'public', 'https');
    expect((await call('DELETE', `/v1/hosts/${b.id}`, { token: admin() })).status).toBe(200);

    const res = await since(start.version);
    expect(res.status).toBe(200);
    const update = parseRouteUpdate(res.body);
    expect(update.kind).toBe('delta');
    const delta = update.kind === 'delta' ? update.delta : undefined;
    const now = await table();
    expect(delta).toEqual({ from: start.version, to: now.version, upsert: [{ hostId: a.id, ip: a.ip, owner: ALICE, ports: [{ port: 3000, access: 'public', protocol: 'https' }] }], remove: [b.id] });
    expect(res.headers.get('etag')).toBe(`"${now.version}"`);
    // Versions are ordered: four changes later, the sequence number moved by four.
    expect(Number(now.version.split('.')[1]) - Number(start.version.split('.')[1] ?? 0)).toBe(4);

    // Applied to the table it started from, the delta gives the table now.
    const applied = new Map(start.routes.map((r) => [r.hostId, r]));
    for (const id of delta!.remove) applied.delete(id);
    for (const e of delta!.upsert) applied.set(e.hostId, e);
    expect(byHost([...applied.values()])).toEqual(now.routes);

    // At the current version: 304 at once without wait; with wait, held until the next change, which comes alone.
    const idle = await since(now.version);
    expect(idle.status).toBe(304);
    expect(idle.headers.get('etag')).toBe(`"${now.version}"`);
    let answered = false;
    const held = since(now.version, 30).then((r) => {
      answered = true;
      return r;
    });
    await new Promise((r) => setTimeout(r, 300));
    expect(answered).toBe(false);
    await put(a.id, 4000, 'organization');
    const woken = await held;
    expect(woken.status).toBe(200);
    expect(woken.body.from).toBe(now.version);
    expect(woken.body.upsert.map((e: RouteEntry) => e.ports.map((p) => p.port))).toEqual([[3000, 4000]]);
    expect(woken.body.remove).toEqual([]);
    // One port change costs the proxy one entry, whatever the table's size.
    expect(woken.text.length).toBeLessThan(1024);
  });

  test('a gap, expired changes or an unknown version get the whole table with the reason', async () => {
    const h = await env('gap-a');
    await put(h.id, 3000, 'private');
    const v0 = await table();
    const seq0 = Number(v0.version.split('.')[1]);
    const epoch = v0.version.split('.')[0];
    for (const port of [3001, 3002, 3003]) await put(h.id, port, 'private');
    const full = await table();

    const expectSnapshot = async (version: string, reason: string) => {
      const res = await since(version);
      expect({ version, status: res.status, snapshot: res.body.snapshot }).toEqual({ version, status: 200, snapshot: reason });
      expect(parseRouteTable(res.body)).toEqual(full);
      expect(res.headers.get('etag')).toBe(`"${full.version}"`);
    };
    // Another table's epoch, or a version this table has not reached.
    await expectSnapshot(`${epoch === 'deadbeef' ? 'feedface' : 'deadbeef'}.${seq0}`, 'unknown-version');
    await expectSnapshot(`${epoch}.${seq0 + 1000}`, 'unknown-version');
    // A record in the middle gone (as TTL removes them): a gap.
    await deleteChange(seq0 + 2);
    await expectSnapshot(v0.version, 'gap');
    // The first record after the version gone: its changes are no longer kept.
    await deleteChange(seq0 + 1);
    await expectSnapshot(v0.version, 'expired');
    // After the hole, deltas work again.
    const res = await since(`${epoch}.${seq0 + 2}`);
    expect(res.body).toEqual({ from: `${epoch}.${seq0 + 2}`, to: full.version, upsert: [full.routes.find((r) => r.hostId === h.id)], remove: [] });
  });

  test('the largest change a host can make, its 64th port with the longest owner, is a delta under 10 KB', async () => {
    const owner = { subject: `s${'x'.repeat(127)}`, organization: `o${'y'.repeat(63)}` };
    const h = await env('largest-entry', owner);
    for (let port = 65535; port > 65535 - 63; port--) await put(h.id, port, 'organization', 'https');
    const before = await table();
    await put(h.id, 65535 - 63, 'organization', 'https');
    const res = await since(before.version);
    expect(res.body.upsert[0].ports).toHaveLength(64);
    expect(Buffer.byteLength(res.text)).toBeLessThanOrEqual(10_000);
    // A 65th port is refused, so no host's entry grows beyond this.
    const more = await call('PUT', `/v1/hosts/${h.id}/ports/1`, { token: admin(), body: { access: 'public' } });
    expect(more.status).toBe(409);
  });

  test('a version that is not one the API hands out is a 400 naming since', async () => {
    for (const version of ['', 'abc', '1', 'deadbeef.0', 'deadbeef.01', 'DEADBEEF.1', 'deadbeef.1.2', `deadbeef.${'9'.repeat(13)}`, '"deadbeef.1"']) {
      const res = await call('GET', `/v1/routes?since=${encodeURIComponent(version)}`, { token: admin() });
      expect({ version, status: res.status }).toEqual({ version, status: 400 });
      expect(res.headers.get('content-type')).toBe('application/problem+json');
      expect(res.body.errors[0].field).toBe('since');
    }
    // Without a credential, no delta either.
    expect((await call('GET', '/v1/routes?since=0')).status).toBe(401);
  });

  const firstSeed = Number(process.env.ROUTES_SEED ?? Date.now() % 100_000);
  test.each([0, 1, 2])('random sequences of port changes, owner changes and revocations: RouteSource through deltas ends at the full table (run %i)', async (run) => {
    const seed = firstSeed + run;
    let state = seed;
    const random = (n: number) => {
      state = (Math.imul(state, 1103515245) + 12345) >>> 1;
      return state % n;
    };
    const hosts = await Promise.all(Array.from({ length: 6 }, (_, i) => env(`prop-${run}-${i}`, i % 2 ? ALICE : BOB)));
    const live = new Set(hosts.map((h) => h.id));
    const seen: RouteTable[] = [];
    const errors: string[] = [];
    const source = new HttpRouteSource(`${gw.url}/v1/routes`, { waitSeconds: 5, retryMs: 50, headers: { authorization: `Bearer ${admin()}` } });
    source.start((t) => seen.push(t), (e) => errors.push(e.message));
    const requests = { deltas: 0 };
    try {
      await waitUntil('the first table', () => seen.length > 0);
      for (let round = 0; round < 4; round++) {
        for (let step = 0; step < 8; step++) {
          const ids = [...live];
          if (ids.length === 0) break;
          const id = ids[random(ids.length)];
          const what = random(10);
          if (what < 5) await put(id, 3000 + random(4), ['private', 'organization', 'public'][random(3)], random(2) ? 'https' : 'http');
          else if (what < 8) await call('DELETE', `/v1/hosts/${id}/ports/${3000 + random(4)}`, { token: admin() });
          else if (what < 9) await call('PATCH', `/v1/hosts/${id}`, { token: admin(), body: { owner: random(2) ? ALICE : BOB } });
          else {
            expect((await call('DELETE', `/v1/hosts/${id}`, { token: admin() })).status).toBe(200);
            live.delete(id);
          }
        }
        // The store is the truth: the source must reach its version and its routes exactly.
        const head = formatRoutesVersion(await gw.store.getRoutesHead());
        const expected = await gw.store.listRoutes();
        const last = await waitUntil(
          `round ${round} (seed ${seed}): the source at ${head}`,
          () => seen[seen.length - 1],
          (t) => t.version === head,
        );
        expect({ seed, round, routes: byHost(last.routes) }).toEqual({ seed, round, routes: expected });
        // And the whole table, once this instance has seen the last change, says the same.
        expect(await table()).toEqual({ version: head, routes: expected });
      }
      requests.deltas = seen.length - 1;
      // Every table after the first came from a delta: no error made the source start over.
      expect(errors).toEqual([]);
      expect(requests.deltas).toBeGreaterThan(0);
    } finally {
      await source.close();
    }
  });
});
