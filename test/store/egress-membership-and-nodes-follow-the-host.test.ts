/**
 * The egress nodes' view of the hosts, against DynamoDB Local. The rules: an environment with an
 * owner is an egress member from its creation (no other role, and no environment without an owner,
 * is one); an egress node is active from its enrollment until its revocation.
 */
import { DEFAULT_NETWORK_POLICY } from '../../src/mesh';
import { Ipv4Cidr } from '../../src/mesh/cidr';
import { ensureTable, GatewayStore } from '../../src/store';
import { dropTable, testDynamoClient, uniqueTableName } from '../support/dynamodb';

const HOUR = 3600_000;
const T0 = new Date('2030-01-01T00:00:00.000Z');
const at = (ms: number) => new Date(T0.getTime() + ms);
const OWNER = { subject: 'alice', organization: 'acme' };

describe('egress membership and egress nodes follow the host', () => {
  const client = testDynamoClient();
  const tableName = uniqueTableName('gw-egress-members');
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

  async function create(role: 'environment' | 'proxy' | 'egress', owner?: typeof OWNER) {
    const id = `h-egm-${++n}`;
    const { host } = await store.createHost({ host: { id, name: `name-${id}`, role, groups: [], ...(owner ? { owner } : {}) }, cidr, token: { hash: `token-${id}`, expiresAt: at(HOUR) }, now: T0 });
    return host;
  }

  it('an environment with an owner is a member from its creation; one without an owner, or another role with one, is not', async () => {
    const owned = await create('environment', OWNER);
    const unowned = await create('environment');
    const proxy = await create('proxy', OWNER);
    const members = await store.listEgressMembers();
    expect(members).toEqual([{ hostId: owned.id, name: owned.name, ip: owned.ip, organization: 'acme' }]);
    expect(members.map((m) => m.hostId)).not.toContain(unowned.id);
    expect(members.map((m) => m.hostId)).not.toContain(proxy.id);
  });

  it('an egress node is active from its enrollment until its revocation', async () => {
    const created = await create('egress');
    const egress = await store.completeEnrollment({
      host: created,
      tokenHash: `token-${created.id}`,
      credentialHash: `cred-${created.id}`,
      certificate: { pem: `pem-${created.id}`, fingerprint: `fp-${created.id}`, notAfter: at(2 * HOUR), publicKey: `key-${created.id}` },
      now: T0,
    });
    expect(await store.listEgressNodes()).toEqual([{ hostId: egress.id, ip: egress.ip }]);
    await store.revokeHost({ hostId: egress.id, now: at(HOUR) });
    expect(await store.listEgressNodes()).toEqual([]);
  });
});
