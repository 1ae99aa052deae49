/**
 * The store's address allocation against DynamoDB Local, on small networks so that the counter
 * runs out and the pool is used. The rules: a host gets an address no live host holds and none
 * still quarantined; a refused request takes no address; the host record keeps what it was
 * created with; every uniqueness claim (id, token, name, instance) holds, also under races.
 */
import { DEFAULT_NETWORK_POLICY } from '../../src/mesh';
import { Ipv4Cidr } from '../../src/mesh/cidr';
import { AddressTakenError, ensureTable, GatewayStore, HostNameTakenError, keys, NetworkFullError, StateConflictError } from '../../src/store';
import type { NewHost } from '../../src/store';
import { TableAccess } from '../../src/store/table-access';
import { dropTable, scanAll, testDynamoClient, uniqueTableName } from '../support/dynamodb';

const HOUR = 3600_000;
const T0 = new Date('2030-01-01T00:00:00.000Z');
const at = (ms: number) => new Date(T0.getTime() + ms);

describe('allocation claims only free addresses', () => {
  const client = testDynamoClient();
  const table = (net: { tableName: string }) => new TableAccess(client, net.tableName);
  afterAll(() => client.destroy());

  /** A fresh table and store with a network of `cidr`. */
  async function network(cidrText: string) {
    const tableName = uniqueTableName('gw-alloc');
    await ensureTable(client, tableName);
    const store = new GatewayStore({ client, tableName });
    await store.initNetwork({ cidr: cidrText, caBundle: 'unused', policy: { ...DEFAULT_NETWORK_POLICY }, createdAt: T0.toISOString() });
    const cidr = Ipv4Cidr.parse(cidrText);
    let n = 0;
    const create = (host: Partial<NewHost> = {}, options: { requestedIp?: string; now?: Date; tokenHash?: string } = {}) => {
      const id = host.id ?? `h-${++n}-${Math.random().toString(36).slice(2, 8)}`;
      return store.createHost({
        host: { id, name: `n-${id}`, role: 'environment', groups: [], ...host },
        cidr,
        requestedIp: options.requestedIp,
        token: { hash: options.tokenHash ?? `tok-${id}`, expiresAt: at(HOUR) },
        now: options.now ?? T0,
      });
    };
    const items = () => scanAll(client, tableName);
    const drop = () => dropTable(client, tableName);
    return { store, cidr, create, items, drop, tableName };
  }

  it('numbers addresses in order from the counter, one attempt each; a refused name takes no number', async () => {
    const net = await network('10.80.0.0/24');
    try {
      const first = await net.create({ name: 'alpha' });
      expect(first).toMatchObject({ host: { ip: '10.80.0.1' }, attempts: 1 });
      await expect(net.create({ name: 'ALPHA' })).rejects.toThrow(HostNameTakenError);
      const second = await net.create();
      expect(second).toMatchObject({ host: { ip: '10.80.0.2' }, attempts: 1 });
      expect((await net.items()).filter((i) => i.pk === 'POOL')).toEqual([]);
    } finally {
      await net.drop();
    }
  });

  it('keeps what the host was created with: role, groups, endpoints, instance and owner', async () => {
    const net = await network('10.81.0.0/24');
    try {
      const owner = { subject: 'alice', organization: 'acme' };
      const { host } = await net.create({ role: 'lighthouse', groups: ['g1'], endpoints: ['198.51.100.5:4242'], instanceId: 'i-0bbbbbbbbbbbbbbb1', owner });
      const expected = { role: 'lighthouse', groups: ['g1'], endpoints: ['198.51.100.5:4242'], instanceId: 'i-0bbbbbbbbbbbbbbb1', owner, status: 'pending', createdAt: T0.toISOString() };
      expect(host).toMatchObject(expected);
      expect(await net.store.getHost(host.id)).toMatchObject(expected);
      expect(await net.store.getHostIdForInstance('i-0bbbbbbbbbbbbbbb1')).toBe(host.id);
    } finally {
      await net.drop();
    }
  });

  it('lists a lighthouse with endpoints (and moves the config version), not one without, nor another role with endpoints', async () => {
    const net = await network('10.82.0.0/24');
    try {
      const version = await net.store.getConfigVersion();
      const listed = await net.create({ role: 'lighthouse', endpoints: ['198.51.100.6:4242'] });
      expect(await net.store.getConfigVersion()).toBe(version + 1);
      await net.create({ role: 'lighthouse', endpoints: [] });
      await net.create({ role: 'lighthouse' });
      await net.create({ role: 'proxy', endpoints: ['198.51.100.7:4242'] });
      expect((await net.store.listLighthouses()).map((l) => l.hostId)).toEqual([listed.host.id]);
      expect(await net.store.getConfigVersion()).toBe(version + 1);
    } finally {
      await net.drop();
    }
  });

  it('refuses a taken id, enrollment token or instance, naming which, writing nothing', async () => {
    const net = await network('10.83.0.0/24');
    try {
      const existing = await net.create({ instanceId: 'i-0ccccccccccccccc1' }, { tokenHash: 'shared-token' });
      const before = await net.items();
      await expect(net.create({ id: existing.host.id, name: 'other-1' })).rejects.toThrow(new StateConflictError(`host id ${existing.host.id} already exists`));
      await expect(net.create({ name: 'other-2' }, { tokenHash: 'shared-token' })).rejects.toThrow(new StateConflictError('enrollment token collision'));
      await expect(net.create({ name: 'other-3', instanceId: 'i-0ccccccccccccccc1' })).rejects.toThrow(StateConflictError);
      await expect(net.create({ name: 'other-4', instanceId: 'i-0ccccccccccccccc1' })).rejects.toThrow(/i-0ccccccccccccccc1/);
      // The counter may move for those (the transaction decides); no host, lease, token or claim is added.
      const after = (await net.items()).filter((i) => !(i.pk === 'NETWORK' && i.sk === 'IPCOUNTER') && i.pk !== 'POOL');
      expect(after).toEqual(before.filter((i) => !(i.pk === 'NETWORK' && i.sk === 'IPCOUNTER')));
    } finally {
      await net.drop();
    }
  });

  it('two hosts racing for one name: one wins, the other is refused and its address goes to the pool', async () => {
    const net = await network('10.84.0.0/24');
    try {
      for (let round = 0; round < 20; round++) {
        const results = await Promise.allSettled([net.create({ name: `race-${round}` }), net.create({ name: `race-${round}` })]);
        expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
        const refused = results.filter((r) => r.status === 'rejected') as PromiseRejectedResult[];
        expect(refused).toHaveLength(1);
        expect(refused[0].reason).toBeInstanceOf(HostNameTakenError);
      }
      // No address is lost: every one the counter numbered is held by the winner, or (a loser's,
      // refused by the transaction) free in the pool; never both.
      const items = await net.items();
      const numbered = (items.find((i) => i.pk === 'NETWORK' && i.sk === 'IPCOUNTER')?.next as number) ?? 0;
      const held = new Set(items.filter((i) => i.sk === 'LEASE' && i.state === 'held').map((i) => i.ip));
      const pooled = new Set(items.filter((i) => i.pk === 'POOL').map((i) => i.ip));
      expect(held.size).toBe(20);
      const where = (ip: string) => (held.has(ip) && pooled.has(ip) ? 'both' : held.has(ip) ? 'held' : pooled.has(ip) ? 'pooled' : 'lost');
      const addresses = Array.from({ length: numbered }, (_, index) => net.cidr.addressAt(index));
      expect(addresses.filter((ip) => ['both', 'lost'].includes(where(ip))).map((ip) => `${ip}: ${where(ip)}`)).toEqual([]);
      for (const ip of pooled) expect(items.find((i) => i.pk === `LEASE#${ip}`)).toMatchObject({ state: 'free' });
    } finally {
      await net.drop();
    }
  });

  it('a requested address: free or never used is claimed; held or still quarantined is refused; racing requests: one wins', async () => {
    const net = await network('10.85.0.0/24');
    try {
      const holder = await net.create({}, { requestedIp: '10.85.0.50' });
      expect(holder.host.ip).toBe('10.85.0.50');
      await expect(net.create({}, { requestedIp: '10.85.0.50' })).rejects.toThrow(new AddressTakenError('10.85.0.50'));
      await net.store.revokeHost({ hostId: holder.host.id, now: T0, minQuarantineMs: 2 * HOUR });
      await expect(net.create({}, { requestedIp: '10.85.0.50', now: at(HOUR) })).rejects.toThrow(AddressTakenError);
      // Quarantine over, without a sweep: claimable, and its queue entry leaves with the claim.
      const reused = await net.create({}, { requestedIp: '10.85.0.50', now: at(3 * HOUR) });
      expect(reused.host.ip).toBe('10.85.0.50');
      expect((await net.items()).filter((i) => (i.pk === 'QUARANTINE' || i.pk === 'POOL') && i.ip === '10.85.0.50')).toEqual([]);

      // The quarantine entry may already be gone (the sweep moving it meanwhile): still claimable.
      const gone = await net.create({}, { requestedIp: '10.85.0.70' });
      await net.store.revokeHost({ hostId: gone.host.id, now: T0 });
      await table(net).batchDelete((await net.items()).filter((i) => i.pk === 'QUARANTINE' && i.ip === '10.85.0.70').map((i) => ({ pk: i.pk as string, sk: i.sk as string })));
      expect((await net.create({}, { requestedIp: '10.85.0.70', now: at(HOUR) })).host.ip).toBe('10.85.0.70');

      for (const ip of ['10.85.0.60', '10.85.0.61', '10.85.0.62']) {
        const results = await Promise.allSettled([net.create({}, { requestedIp: ip }), net.create({}, { requestedIp: ip })]);
        const won = results.filter((r) => r.status === 'fulfilled') as PromiseFulfilledResult<{ host: { ip: string } }>[];
        expect(won.map((r) => r.value.host.ip)).toEqual([ip]);
        expect((results.find((r) => r.status === 'rejected') as PromiseRejectedResult).reason).toBeInstanceOf(AddressTakenError);
      }
    } finally {
      await net.drop();
    }
  });

  it('once the counter has run out: ended quarantines are pooled on demand, concurrent creators get distinct addresses, then the network is full', async () => {
    const net = await network('10.86.0.0/29'); // 6 usable addresses
    try {
      const hosts = [];
      for (let i = 0; i < 6; i++) hosts.push((await net.create()).host);
      await expect(net.create()).rejects.toThrow(NetworkFullError);
      // Three revoked; their quarantine ends at T0 + 1 h; no sweep runs.
      for (const h of hosts.slice(0, 3)) await net.store.revokeHost({ hostId: h.id, now: T0, minQuarantineMs: HOUR });
      await expect(net.create({}, { now: at(HOUR / 2) })).rejects.toThrow(NetworkFullError);
      const later = at(2 * HOUR);
      // The first creator pools the ended quarantines itself (no sweep ran)...
      const first = await net.create({}, { now: later });
      // ...and concurrent creators then share the pool: distinct addresses, each a real host.
      const rest = await Promise.all([0, 1].map(() => net.create({}, { now: later })));
      const created = [first, ...rest];
      expect(created.map((c) => c.host.ip).sort()).toEqual(hosts.slice(0, 3).map((h) => h.ip).sort());
      for (const c of created) expect(c.attempts).toBeGreaterThanOrEqual(1);
      await expect(net.create({}, { now: later })).rejects.toThrow(NetworkFullError);
      expect((await net.items()).filter((i) => i.pk === 'POOL' || i.pk === 'QUARANTINE')).toEqual([]);
    } finally {
      await net.drop();
    }
  });

  it('a pool entry for an address claimed directly meanwhile is skipped and dropped', async () => {
    const net = await network('10.87.0.0/30'); // 2 usable addresses
    try {
      const a = (await net.create()).host;
      (await net.create()).host;
      await net.store.batchPut([{ ...keys.pool(T0, a.ip), ip: a.ip, availableAt: T0.toISOString() }]);
      await expect(net.create({}, { now: at(HOUR) })).rejects.toThrow(NetworkFullError);
      const items = await net.items();
      expect(items.filter((i) => i.pk === 'POOL')).toEqual([]);
      expect(items.find((i) => i.pk === `LEASE#${a.ip}`)).toMatchObject({ state: 'held', hostId: a.id });
    } finally {
      await net.drop();
    }
  });
});
