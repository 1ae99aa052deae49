/**
 * The store's revocation and sweep against DynamoDB Local. The rules: a revoked host keeps no
 * right (credential, enrollment token, name, instance, lighthouse entry, published ports), every
 * unexpired certificate it was issued is blocklisted, its address is quarantined until the last
 * of them expires (or the minimum quarantine, if longer), and only then does the sweep pool it.
 */
import { DEFAULT_NETWORK_POLICY } from '../../src/mesh';
import { Ipv4Cidr } from '../../src/mesh/cidr';
import { ensureTable, GatewayStore, keys, StateConflictError } from '../../src/store';
import { revokeHost } from '../../src/store/revocation';
import { TableAccess } from '../../src/store/table-access';
import { dropTable, scanAll, testDynamoClient, uniqueTableName } from '../support/dynamodb';

const HOUR = 3600_000;
const T0 = new Date('2030-01-01T00:00:00.000Z');
const at = (ms: number) => new Date(T0.getTime() + ms);

describe('revocation ends every right of the host', () => {
  const client = testDynamoClient();
  const tableName = uniqueTableName('gw-revocation');
  const store = new GatewayStore({ client, tableName });
  const table = new TableAccess(client, tableName);
  const cidr = Ipv4Cidr.parse('10.70.0.0/16');
  let n = 0;

  beforeAll(async () => {
    await ensureTable(client, tableName);
    await store.initNetwork({ cidr: cidr.toString(), caBundle: 'unused', policy: { ...DEFAULT_NETWORK_POLICY }, createdAt: T0.toISOString() });
  });
  afterAll(async () => {
    await dropTable(client, tableName);
    client.destroy();
  });

  const items = () => scanAll(client, tableName);
  /** A host, enrolled with one certificate per `notAfter` (relative to T0). */
  async function host(role: 'environment' | 'lighthouse' | 'proxy', certificates: number[] = [2 * HOUR], extra: { endpoints?: string[]; instanceId?: string; owner?: { subject: string; organization: string } } = {}) {
    const id = `h-rev-${++n}`;
    const tokenHash = `token-hash-${id}`;
    const { host: created } = await store.createHost({ host: { id, name: `name-${id}`, role, groups: [], ...extra }, cidr, token: { hash: tokenHash, expiresAt: at(HOUR) }, now: T0 });
    let record = created;
    for (const [i, notAfter] of certificates.entries()) {
      const certificate = { pem: `pem-${id}-${i}`, fingerprint: `${id}-fp-${i}`, notAfter: at(notAfter), publicKey: `key-${id}-${i}` };
      record = i === 0
        ? await store.completeEnrollment({ host: record, tokenHash, credentialHash: `cred-${id}`, certificate, now: T0 })
        : await store.recordCertificate({ host: record, certificate, credentialHash: `cred-${id}-${i}`, now: T0 });
    }
    return record;
  }
  const revocations = async () => (await items()).filter((i) => i.pk === 'REVOKED').map((i) => i.fingerprint).sort();
  const leaseOf = async (ip: string) => (await items()).find((i) => i.pk === `LEASE#${ip}`);

  it('revokes: status, credential, token, name, instance and lighthouse entry gone; unexpired certificates blocklisted; versions moved', async () => {
    const lh = await host('lighthouse', [2 * HOUR, 3 * HOUR], { endpoints: ['198.51.100.1:4242'], instanceId: 'i-0aaaaaaaaaaaaaaa1' });
    expect((await store.listLighthouses()).map((l) => l.hostId)).toContain(lh.id);
    const configVersion = await store.getConfigVersion();
    const routesVersion = await store.getRoutesVersion();
    const revoked = await store.revokeHost({ hostId: lh.id, now: at(HOUR) });
    expect(revoked).toMatchObject({ status: 'revoked', revokedAt: at(HOUR).toISOString() });
    expect(revoked?.credentialHash).toBeUndefined();
    expect(revoked?.tokenHash).toBeUndefined();
    expect(await store.getToken(`token-hash-${lh.id}`)).toBeUndefined();
    expect(await store.getHostIdForInstance('i-0aaaaaaaaaaaaaaa1')).toBeUndefined();
    expect((await store.listLighthouses()).map((l) => l.hostId)).not.toContain(lh.id);
    expect((await items()).find((i) => i.pk === `NAME#name-${lh.id}`)).toBeUndefined();
    expect(await revocations()).toEqual([`${lh.id}-fp-0`, `${lh.id}-fp-1`]);
    expect(await store.getConfigVersion()).toBe(configVersion + 1);
    // Not an environment: it published no ports, and the route table does not move.
    expect(await store.getRoutesVersion()).toBe(routesVersion);
    // Quarantined until its last certificate expires.
    expect(await leaseOf(lh.ip)).toMatchObject({ state: 'quarantined', availableAt: at(3 * HOUR).toISOString() });
  });

  it('blocklists only certificates that have not expired at the revocation', async () => {
    const env = await host('environment', [HOUR, 5 * HOUR]);
    await store.revokeHost({ hostId: env.id, now: at(2 * HOUR) });
    expect((await revocations()).filter((f) => String(f).startsWith(`${env.id}-`))).toEqual([`${env.id}-fp-1`]);
  });

  it("an environment's published ports leave the route table, and the route table's version moves", async () => {
    const env = await host('environment', [2 * HOUR], { owner: { subject: 'alice', organization: 'acme' } });
    await store.replacePorts(env, [{ port: 3000, access: 'public', protocol: 'http' }]);
    expect((await items()).find((i) => i.pk === 'ROUTES' && i.sk === `HOST#${env.id}`)).toBeDefined();
    const routesVersion = await store.getRoutesVersion();
    await store.revokeHost({ hostId: env.id, now: at(HOUR) });
    expect((await items()).find((i) => i.pk === 'ROUTES' && i.sk === `HOST#${env.id}`)).toBeUndefined();
    expect(await store.getRoutesVersion()).toBe(routesVersion + 1);
  });

  it('the name is free again for a new host', async () => {
    const env = await host('environment');
    await store.revokeHost({ hostId: env.id, now: at(HOUR) });
    const again = await store.createHost({ host: { id: `${env.id}-again`, name: env.name, role: 'environment', groups: [] }, cidr, token: { hash: `t-${env.id}-again`, expiresAt: at(2 * HOUR) }, now: at(HOUR) });
    expect(again.host.name).toBe(env.name);
  });

  it("leaves another host's claim on the name alone, and revokes a host that has no name claim", async () => {
    const env = await host('environment');
    await store.batchPut([{ ...keys.hostName(env.name), hostId: 'someone-else', name: env.name }]);
    await store.revokeHost({ hostId: env.id, now: at(HOUR) });
    expect((await items()).find((i) => i.pk === `NAME#${env.name}`)).toMatchObject({ hostId: 'someone-else' });

    const unclaimed = await host('environment');
    await table.batchDelete([keys.hostName(unclaimed.name)]);
    expect(await store.revokeHost({ hostId: unclaimed.id, now: at(HOUR) })).toMatchObject({ status: 'revoked' });
  });

  it('says what it did: revoked, then already-revoked', async () => {
    const env = await host('environment');
    expect(await revokeHost(table, (await store.getHost(env.id))!, { now: at(HOUR) })).toBe('revoked');
    expect(await revokeHost(table, (await store.getHost(env.id))!, { now: at(HOUR) })).toBe('already-revoked');
  });

  it('revoking twice changes nothing the second time', async () => {
    const env = await host('environment');
    await store.revokeHost({ hostId: env.id, now: at(HOUR) });
    const version = await store.getConfigVersion();
    const before = await items();
    const stored = (await store.getHost(env.id))!;
    expect(await revokeHost(table, stored, { now: at(2 * HOUR) })).toBe('already-revoked');
    expect(await store.getConfigVersion()).toBe(version);
    expect(await items()).toEqual(before);
  });

  it('a stale record of a host revoked meanwhile: already-revoked; a record whose lease is not its own: a conflict, nothing written', async () => {
    const env = await host('environment');
    const stale = (await store.getHost(env.id))!;
    await store.revokeHost({ hostId: env.id, now: at(HOUR) });
    expect(await revokeHost(table, stale, { now: at(HOUR) })).toBe('already-revoked');

    const a = await host('environment');
    const b = await host('environment');
    const before = await items();
    const wrongLease = { ...a, ip: b.ip };
    await expect(revokeHost(table, wrongLease, { now: at(HOUR) })).rejects.toThrow(new StateConflictError(`host ${a.id} changed while it was being revoked; try again`));
    expect(await items()).toEqual(before);
  });

  it('quarantines for the minimum quarantine when that is longer than the certificates live, and the sweep respects it', async () => {
    const env = await host('environment', [2 * HOUR]);
    await store.revokeHost({ hostId: env.id, now: at(HOUR), minQuarantineMs: 10 * HOUR });
    expect(await leaseOf(env.ip)).toMatchObject({ state: 'quarantined', availableAt: at(11 * HOUR).toISOString() });
    await store.sweep(at(5 * HOUR));
    expect((await leaseOf(env.ip))?.state).toBe('quarantined');
    await store.sweep(at(11 * HOUR));
    expect((await leaseOf(env.ip))?.state).toBe('free');
  });

  it('blocklists every certificate even when there are more than one transaction holds', async () => {
    const many = Array.from({ length: 95 }, (_, i) => 2 * HOUR + i * 1000);
    const env = await host('environment', many);
    await store.revokeHost({ hostId: env.id, now: at(HOUR) });
    expect((await revocations()).filter((f) => String(f).startsWith(`${env.id}-`))).toHaveLength(95);
    expect(await leaseOf(env.ip)).toMatchObject({ availableAt: at(2 * HOUR + 94_000).toISOString() });
  }, 60_000);

  it('the sweep pools every ended quarantine, more than one page of them, and counts what it did', async () => {
    // Earlier cases' quarantines out of the way first.
    await store.sweep(at(100 * HOUR));
    const hosts = [];
    for (let i = 0; i < 30; i++) hosts.push(await host('environment', [101 * HOUR]));
    for (const h of hosts) await store.revokeHost({ hostId: h.id, now: at(100 * HOUR) });
    const swept = await store.sweep(at(102 * HOUR));
    expect(swept).toEqual({ expiredRevocations: 30, releasedAddresses: 30 });
    for (const h of hosts) expect((await leaseOf(h.ip))?.state).toBe('free');
    expect(await store.sweep(at(102 * HOUR))).toEqual({ expiredRevocations: 0, releasedAddresses: 0 });
  }, 60_000);

  it('the sweep drops a stale quarantine entry for an address that was claimed directly, leaving the lease alone', async () => {
    const env = await host('environment');
    await store.batchPut([{ pk: 'QUARANTINE', sk: `${at(HOUR).toISOString()}#${env.ip}`, ip: env.ip, availableAt: at(HOUR).toISOString() }]);
    await store.sweep(at(200 * HOUR));
    const all = await items();
    expect(all.filter((i) => (i.pk === 'QUARANTINE' || i.pk === 'POOL') && i.ip === env.ip)).toEqual([]);
    expect(all.find((i) => i.pk === `LEASE#${env.ip}`)).toMatchObject({ state: 'held', hostId: env.id });
  });
});
