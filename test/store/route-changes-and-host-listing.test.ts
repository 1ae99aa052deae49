/**
 * The store's route change log and sharded host listing against DynamoDB Local. Route changes
 * made at the same time still get consecutive sequence numbers, each with its record, and the
 * records replayed in order give the route table; hosts listed page by page across the listing
 * shards come out once each, in role-then-id order.
 */
import { DEFAULT_NETWORK_POLICY } from '../../src/mesh';
import { Ipv4Cidr } from '../../src/mesh/cidr';
import type { RouteEntry } from '../../src/mesh/routes';
import { ensureTable, GatewayStore, InvalidCursorError } from '../../src/store';
import { HOST_LISTING_SHARDS, hostListingShard } from '../../src/store/keys';
import { dropTable, scanAll, testDynamoClient, uniqueTableName } from '../support/dynamodb';

const T0 = new Date('2030-01-01T00:00:00.000Z');
const OWNER = { subject: 'alice', organization: 'acme' };

describe('route change log and host listing', () => {
  const client = testDynamoClient();
  const tableName = uniqueTableName('gw-route-log');
  const store = new GatewayStore({ client, tableName });
  const cidr = Ipv4Cidr.parse('10.71.0.0/16');
  let n = 0;

  beforeAll(async () => {
    await ensureTable(client, tableName);
    await store.initNetwork({ cidr: cidr.toString(), caBundle: 'unused', policy: { ...DEFAULT_NETWORK_POLICY }, createdAt: T0.toISOString() });
  });
  afterAll(async () => {
    await dropTable(client, tableName);
    client.destroy();
  });

  const create = async (role: 'environment' | 'proxy' | 'lighthouse') => {
    const id = `h-${(++n).toString().padStart(4, '0')}${'a'.repeat(12)}`;
    const { host } = await store.createHost({
      host: { id, name: `name-${id}`, role, groups: [], ...(role === 'environment' ? { owner: OWNER } : {}) },
      cidr,
      token: { hash: `token-${id}`, expiresAt: new Date(T0.getTime() + 3600_000) },
      now: T0,
    });
    return host;
  };

  test('concurrent route changes get consecutive numbers, each with its record; replayed in order they give the table', async () => {
    const hosts = await Promise.all(Array.from({ length: 12 }, () => create('environment')));
    const before = await store.getRoutesHead();
    // Every host publishes a port, all at once; then a third of them are revoked, also at once.
    await Promise.all(hosts.map((h, i) => store.replacePorts(h, [{ port: 3000 + i, access: 'private', protocol: 'http' }])));
    await Promise.all(hosts.filter((_, i) => i % 3 === 0).map((h) => store.revokeHost({ hostId: h.id, now: T0 })));
    const head = await store.getRoutesHead();
    expect(head.seq).toBe(before.seq + 12 + 4);
    expect(head.epoch).toMatch(/^[0-9a-f]{8}$/);

    const changes = await store.listRouteChanges(before.seq, 100);
    expect(changes.map((c) => c.seq)).toEqual(Array.from({ length: 16 }, (_, i) => before.seq + 1 + i));
    const replayed = new Map<string, RouteEntry>();
    for (const c of changes) {
      if (c.entry) replayed.set(c.hostId, c.entry);
      else replayed.delete(c.hostId);
    }
    const table = await store.listRoutes();
    expect([...replayed.values()].sort((a, b) => (a.hostId < b.hostId ? -1 : 1))).toEqual(table);
    expect(table).toHaveLength(8);
    // A bounded read stops at its limit, oldest first.
    expect((await store.listRouteChanges(before.seq + 3, 2)).map((c) => c.seq)).toEqual([before.seq + 4, before.seq + 5]);
  });

  test('a refused port change takes no sequence number and writes no record', async () => {
    const host = await create('environment');
    await store.replacePorts(host, [{ port: 80, access: 'public', protocol: 'http' }]);
    const head = await store.getRoutesHead();
    // Read before the change above: its revision is stale.
    await expect(store.replacePorts(host, [{ port: 81, access: 'public', protocol: 'http' }])).rejects.toThrow('changed meanwhile');
    expect(await store.getRoutesHead()).toEqual(head);
    expect(await store.listRouteChanges(head.seq, 10)).toEqual([]);
  });

  test('hosts are listed across the shards in role-then-id order, once each, page by page', async () => {
    const created = [...(await Promise.all(Array.from({ length: 30 }, () => create('proxy')))), ...(await Promise.all(Array.from({ length: 10 }, () => create('lighthouse'))))];
    const items = await scanAll(client, tableName);
    const shards = new Set(items.filter((i) => i.sk === 'HOST').map((i) => i.gsi1pk));
    // The hosts are spread over several listing partitions, each named by the host id's shard.
    expect(shards.size).toBeGreaterThan(4);
    for (const item of items.filter((i) => i.sk === 'HOST')) expect(item.gsi1pk).toBe(`HOSTS#${hostListingShard(item.id as string)}`);
    expect([...shards].every((s) => Number(String(s).slice(6)) < HOST_LISTING_SHARDS)).toBe(true);

    const everyone = items.filter((i) => i.sk === 'HOST').map((i) => `${i.role}#${i.id}`).sort();
    for (const [role, limit] of [[undefined, 7], [undefined, 1], ['proxy', 4], ['lighthouse', 3]] as const) {
      const seen: string[] = [];
      let cursor: string | undefined;
      let pages = 0;
      do {
        const page = await store.listHosts({ role, limit, cursor });
        expect(page.hosts.length).toBeLessThanOrEqual(limit);
        seen.push(...page.hosts.map((h) => `${h.role}#${h.id}`));
        cursor = page.nextCursor;
        pages++;
      } while (cursor && pages < 500);
      const expected = everyone.filter((k) => role === undefined || k.startsWith(`${role}#`));
      expect({ role, limit, seen }).toEqual({ role, limit, seen: expected });
    }
    expect(created).toHaveLength(40);
  });

  test('a cursor the store did not hand out is refused', async () => {
    const bad = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
    for (const cursor of [
      'garbage',
      bad([]),
      bad(Array(HOST_LISTING_SHARDS).fill(false)),
      bad(Array(HOST_LISTING_SHARDS).fill('proxy#h-x" OR 1')),
      bad(Array(HOST_LISTING_SHARDS + 1).fill(null)),
      bad({ gsi1pk: 'HOSTS', gsi1sk: 'proxy#h-aaaa', pk: 'HOST#h-aaaa', sk: 'HOST' }),
    ]) {
      await expect(store.listHosts({ limit: 5, cursor })).rejects.toBeInstanceOf(InvalidCursorError);
    }
  });
});
