/**
 * Allocation from the pool under contention, against DynamoDB Local: a creator whose claim is
 * lost to another tries the next free address, however many times it loses, and is told the
 * network is full only once no address is left (pooled, or quarantined no longer).
 *
 * The contention is forced, not hoped for: `ContestedTable` lets a rival take, with a request for
 * exactly that address, each address the creator is about to claim from the pool, so the creator
 * loses as often as the test says (or, with revocations refilling the pool, until it gives up
 * after as many losses as the network has addresses). The last test races real concurrent creators.
 */
import { DEFAULT_NETWORK_POLICY } from '../../src/mesh';
import { Ipv4Cidr } from '../../src/mesh/cidr';
import { ensureTable, GatewayStore, NetworkFullError } from '../../src/store';
import type { CreatedHost, CreateHostInput, NewHost } from '../../src/store';
import { createHost } from '../../src/store/allocation';
import { TableAccess, type TransactItem } from '../../src/store/table-access';
import { dropTable, scanAll, testDynamoClient, uniqueTableName } from '../support/dynamodb';

const HOUR = 3600_000;
const T0 = new Date('2030-01-01T00:00:00.000Z');
const LATER = new Date(T0.getTime() + 2 * HOUR);
/** Lost claims after which the allocation used to give up (its former fixed number of rounds). */
const FORMER_ROUNDS = 16;

/** The address a transaction claims from the pool: it puts the lease and deletes a POOL entry. */
function poolClaimOf(items: readonly TransactItem[]): string | undefined {
  if (!items.some((i) => i.Delete?.Key?.pk === 'POOL')) return undefined;
  return items.find((i) => i.Put?.Item?.sk === 'LEASE')?.Put?.Item?.ip as string | undefined;
}

/** A table through which each pool claim is preceded by `rival(ip)`, while `steals` lasts. */
class ContestedTable extends TableAccess {
  readonly stolen: string[] = [];

  constructor(
    store: { client: ConstructorParameters<typeof TableAccess>[0]; tableName: string },
    private readonly rival: (ip: string) => Promise<unknown>,
    private steals: number,
  ) {
    super(store.client, store.tableName);
  }

  override async transact(items: TransactItem[]): Promise<void> {
    const ip = poolClaimOf(items);
    if (ip !== undefined && this.steals > 0) {
      this.steals--;
      await this.rival(ip);
      this.stolen.push(ip);
    }
    return super.transact(items);
  }
}

describe('allocation: a lost claim goes on to the next free address', () => {
  const client = testDynamoClient();
  afterAll(() => client.destroy());

  /**
   * A network of `cidrText` whose every address was held and revoked at T0 (quarantine over at
   * T0 + 1 h): after `sweep`, all of them are in the pool; without it, all still in quarantine.
   */
  async function recycledNetwork(cidrText: string, options: { sweep: boolean }) {
    const tableName = uniqueTableName('gw-alloc-lost');
    await ensureTable(client, tableName);
    const store = new GatewayStore({ client, tableName });
    await store.initNetwork({ cidr: cidrText, caBundle: 'unused', policy: { ...DEFAULT_NETWORK_POLICY }, createdAt: T0.toISOString() });
    const cidr = Ipv4Cidr.parse(cidrText);
    let n = 0;
    const input = (now: Date, requestedIp?: string): CreateHostInput => {
      const id = `h-${++n}-${Math.random().toString(36).slice(2, 8)}`;
      const host: NewHost = { id, name: `n-${id}`, role: 'environment', groups: [] };
      return { host, cidr, requestedIp, token: { hash: `tok-${id}`, expiresAt: new Date(now.getTime() + HOUR) }, now };
    };
    const create = (now: Date, requestedIp?: string) => store.createHost(input(now, requestedIp));
    const first: CreatedHost[] = [];
    for (let i = 0; i < cidr.usableCount; i++) first.push(await create(T0));
    for (const { host } of first) await store.revokeHost({ hostId: host.id, now: T0, minQuarantineMs: HOUR });
    if (options.sweep) expect((await store.sweep(LATER)).releasedAddresses).toBe(cidr.usableCount);
    const addresses = first.map((c) => c.host.ip).sort();
    const items = () => scanAll(client, tableName);
    const held = async () => (await items()).filter((i) => i.sk === 'LEASE' && i.state === 'held').map((i) => i.ip as string);
    const queued = async () => (await items()).filter((i) => i.pk === 'POOL' || i.pk === 'QUARANTINE').map((i) => i.ip as string);
    return { store, tableName, cidr, addresses, input, create, held, queued, drop: () => dropTable(client, tableName) };
  }

  it(`losing its pick more than ${FORMER_ROUNDS} times in a row, a creator still gets one of the addresses left`, async () => {
    const net = await recycledNetwork('10.88.0.0/27', { sweep: true }); // 30 usable addresses, all pooled
    try {
      const losses = FORMER_ROUNDS + 4;
      const table = new ContestedTable({ client, tableName: net.tableName }, (ip) => net.create(LATER, ip), losses);
      const created = await createHost(table, net.input(LATER));
      expect(table.stolen).toHaveLength(losses);
      expect(created.attempts).toBe(losses + 1);
      expect(table.stolen).not.toContain(created.host.ip);
      expect(net.addresses).toContain(created.host.ip);
      const held = await net.held();
      expect(held.sort()).toEqual([...table.stolen, created.host.ip].sort());
      expect((await net.queued()).sort()).toEqual(net.addresses.filter((ip) => !held.includes(ip)));
    } finally {
      await net.drop();
    }
  });

  it('losing every pick, a creator is told the network is full only once every address is taken', async () => {
    const net = await recycledNetwork('10.89.0.0/27', { sweep: true });
    try {
      const table = new ContestedTable({ client, tableName: net.tableName }, (ip) => net.create(LATER, ip), Infinity);
      await expect(createHost(table, net.input(LATER))).rejects.toThrow(NetworkFullError);
      expect(table.stolen.sort()).toEqual(net.addresses);
      expect((await net.held()).sort()).toEqual(net.addresses);
      expect(await net.queued()).toEqual([]);
    } finally {
      await net.drop();
    }
  });

  it('quarantines ended but not swept: a creator that loses the ones it released to others goes on with the rest', async () => {
    // Without a sweep the pool starts empty: the creator releases ended quarantines itself (a
    // few at a time); rivals take each one as it is about to claim it, more than one release's worth.
    const net = await recycledNetwork('10.90.0.0/27', { sweep: false });
    try {
      const losses = FORMER_ROUNDS + 4;
      const table = new ContestedTable({ client, tableName: net.tableName }, (ip) => net.create(LATER, ip), losses);
      const created = await createHost(table, net.input(LATER));
      expect(table.stolen).toHaveLength(losses);
      expect(table.stolen).not.toContain(created.host.ip);
      expect((await net.held()).sort()).toEqual([...table.stolen, created.host.ip].sort());
      // Still too early for the addresses left: quarantine is not over before T0 + 1 h.
      const early = new Date(T0.getTime() + HOUR / 2);
      await expect(net.create(early)).rejects.toThrow(NetworkFullError);
    } finally {
      await net.drop();
    }
  });

  it('losing every pick while revocations keep refilling the pool, a creator gives up after as many losses as the network has addresses', async () => {
    // The pool never runs dry: each rival revokes the host the previous one created, whose
    // address is at once free again (no quarantine). The network's size bounds the losses.
    const net = await recycledNetwork('10.92.0.0/29', { sweep: true }); // 6 usable addresses
    try {
      let previous: string | undefined;
      const rival = async (ip: string) => {
        const { host } = await net.create(LATER, ip);
        if (previous) await net.store.revokeHost({ hostId: previous, now: LATER });
        previous = host.id;
      };
      const table = new ContestedTable({ client, tableName: net.tableName }, rival, Infinity);
      await expect(createHost(table, net.input(LATER))).rejects.toThrow(NetworkFullError);
      expect(table.stolen).toHaveLength(net.cidr.usableCount);
      expect(await net.queued()).not.toEqual([]); // given up with an address free: the guard, not a full network
    } finally {
      await net.drop();
    }
  });

  it('more concurrent creators than addresses on a /28: every address is taken once, the rest are told the network is full', async () => {
    for (const sweep of [false, true]) {
      const net = await recycledNetwork('10.91.0.0/28', { sweep }); // 14 usable addresses
      try {
        const creators = 24;
        const results = await Promise.allSettled(Array.from({ length: creators }, () => net.create(LATER)));
        const created = results.filter((r): r is PromiseFulfilledResult<CreatedHost> => r.status === 'fulfilled').map((r) => r.value.host.ip);
        const refused = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected').map((r) => String(r.reason));
        expect({ sweep, created: created.sort(), refused }).toEqual({
          sweep,
          created: net.addresses,
          refused: Array(creators - net.cidr.usableCount).fill(new NetworkFullError(net.cidr.toString()).toString()),
        });
        expect(await net.queued()).toEqual([]);
      } finally {
        await net.drop();
      }
    }
  });
});
