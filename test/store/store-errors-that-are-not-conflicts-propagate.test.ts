/**
 * The rule: the store turns only a transaction's condition failures into its own answers
 * (already revoked, address taken, a conflict); any other failure of DynamoDB reaches the
 * caller as itself. The failing write is injected into the store's table access (DynamoDB Local
 * serves everything else), since a real outage cannot be had on demand.
 */
import { DEFAULT_NETWORK_POLICY } from '../../src/mesh';
import { Ipv4Cidr } from '../../src/mesh/cidr';
import { ensureTable, GatewayStore } from '../../src/store';
import { createHost } from '../../src/store/allocation';
import { releaseEndedQuarantines, revokeHost } from '../../src/store/revocation';
import { TableAccess } from '../../src/store/table-access';
import { dropTable, testDynamoClient, uniqueTableName } from '../support/dynamodb';

const T0 = new Date('2030-01-01T00:00:00.000Z');
const HOUR = 3600_000;

describe('errors that are not conflicts propagate', () => {
  const client = testDynamoClient();
  const tableName = uniqueTableName('gw-store-errors');
  const store = new GatewayStore({ client, tableName });
  const cidr = Ipv4Cidr.parse('10.90.0.0/24');
  const outage = Object.assign(new Error('DynamoDB is unreachable'), { name: 'TimeoutError' });
  /** The real table access, except that every transaction fails with `outage`. */
  const failing = () => {
    const table = new TableAccess(client, tableName);
    table.transact = async () => {
      throw outage;
    };
    return table;
  };
  const newHost = (id: string) => ({ host: { id, name: id, role: 'environment' as const, groups: [] }, cidr, token: { hash: `tok-${id}`, expiresAt: new Date(T0.getTime() + HOUR) }, now: T0 });

  beforeAll(async () => {
    await ensureTable(client, tableName);
    await store.initNetwork({ cidr: cidr.toString(), caBundle: 'unused', policy: { ...DEFAULT_NETWORK_POLICY }, createdAt: T0.toISOString() });
  });
  afterAll(async () => {
    await dropTable(client, tableName);
    client.destroy();
  });

  it('creating a host', async () => {
    await expect(createHost(failing(), newHost('h-create'))).rejects.toBe(outage);
    await expect(createHost(failing(), { ...newHost('h-create-at'), requestedIp: '10.90.0.200' })).rejects.toBe(outage);
  });

  it('revoking a host', async () => {
    const { host } = await store.createHost(newHost('h-revoke'));
    await expect(revokeHost(failing(), host, { now: T0 })).rejects.toBe(outage);
    expect((await store.getHost('h-revoke'))?.status).toBe('pending');
  });

  it('releasing an ended quarantine', async () => {
    const { host } = await store.createHost(newHost('h-release'));
    await store.revokeHost({ hostId: host.id, now: T0 });
    await expect(releaseEndedQuarantines(failing(), new Date(T0.getTime() + HOUR), 10)).rejects.toBe(outage);
  });
});
