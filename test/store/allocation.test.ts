import { encodeX25519PublicKeyPem, generateX25519KeyPair } from '../../src/pki';
import { scanAll, testDynamoClient } from '../support/dynamodb';
import { apiClient, startTestGateway, type TestGateway } from '../support/gateway';

const publicKey = () => encodeX25519PublicKeyPem(generateX25519KeyPair().publicKey);

/** Runs `task(i)` for i in 0..count-1 with at most `inFlight` at once. */
async function pool<T>(count: number, inFlight: number, task: (i: number) => Promise<T>): Promise<T[]> {
  const results: T[] = new Array(count);
  let next = 0;
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (next < count) {
        const i = next++;
        results[i] = await task(i);
      }
    }),
  );
  return results;
}

type Item = Record<string, unknown>;
const hostsOf = (items: Item[]) => items.filter((i) => i.sk === 'HOST');
const leasesOf = (items: Item[]) => items.filter((i) => i.sk === 'LEASE');
const tokensOf = (items: Item[]) => items.filter((i) => i.sk === 'TOKEN');

/** Every held lease belongs to a host with that address, and every live host holds its lease. */
function expectConsistent(items: Item[]): void {
  const hosts = hostsOf(items).filter((h) => h.status !== 'revoked');
  const held = leasesOf(items).filter((l) => l.state === 'held');
  const hostById = new Map(hosts.map((h) => [h.id, h]));
  for (const lease of held) expect(hostById.get(lease.hostId)?.ip).toBe(lease.ip);
  const leaseByIp = new Map(held.map((l) => [l.ip, l]));
  for (const host of hosts) expect(leaseByIp.get(host.ip)?.hostId).toBe(host.id);
  expect(held).toHaveLength(hosts.length);
}

describe('IP allocation under concurrency', () => {
  const client = testDynamoClient();
  afterAll(() => client.destroy());

  describe('a /16 network', () => {
    let gw: TestGateway;
    let call: ReturnType<typeof apiClient>;
    beforeAll(async () => {
      gw = await startTestGateway();
      call = apiClient(gw.url);
    });
    afterAll(() => gw?.close());

    test('500 enrollments with 50 in flight: 500 distinct addresses, leases and hosts match one to one', async () => {
      const results = await pool(500, 50, async (i) => {
        const created = await call('POST', '/v1/hosts', { token: gw.adminToken, body: { name: `env-${i}`, role: 'environment' } });
        expect(created.status).toBe(201);
        const enrolled = await call('POST', '/v1/enroll', { body: { token: created.body.enrollment.token, publicKey: publicKey() } });
        expect(enrolled.status).toBe(200);
        return created.body.host.ip as string;
      });
      expect(new Set(results).size).toBe(500);
      const items = await scanAll(client, gw.tableName);
      expect(hostsOf(items)).toHaveLength(500);
      expect(hostsOf(items).every((h) => h.status === 'active')).toBe(true);
      expect(leasesOf(items)).toHaveLength(500);
      expectConsistent(items);
    }, 300_000);

    test('20 concurrent requests for one address: exactly one gets it', async () => {
      const results = await pool(20, 20, (i) =>
        call('POST', '/v1/hosts', { token: gw.adminToken, body: { name: `race-${i}`, role: 'environment', ip: '10.42.200.7' } }),
      );
      expect(results.filter((r) => r.status === 201)).toHaveLength(1);
      expect(results.filter((r) => r.status === 409).every((r) => r.body.errors[0].field === 'ip')).toBe(true);
      expect(results.filter((r) => r.status === 409)).toHaveLength(19);
      // The counter steps over an address taken by an explicit request.
      expectConsistent(await scanAll(client, gw.tableName));
    });
  });

  describe('a /28 network filled to the last address', () => {
    let gw: TestGateway;
    let call: ReturnType<typeof apiClient>;
    beforeAll(async () => {
      gw = await startTestGateway({ overlayCidr: '10.99.0.0/28', certificateLifetimeSeconds: 3600 });
      call = apiClient(gw.url);
    });
    afterAll(() => gw?.close());

    test('14 hosts fit; the next create is a 409 network-full with nothing half-written; a revoked address comes back after quarantine', async () => {
      const results = await pool(20, 20, (i) => call('POST', '/v1/hosts', { token: gw.adminToken, body: { name: `h-${i}`, role: 'environment' } }));
      const created = results.filter((r) => r.status === 201);
      expect(created).toHaveLength(14);
      const ips = created.map((r) => r.body.host.ip as string);
      expect(new Set(ips).size).toBe(14);
      expect(ips).not.toContain('10.99.0.0');
      expect(ips).not.toContain('10.99.0.15');
      for (const r of results.filter((r) => r.status !== 201)) {
        expect(r.status).toBe(409);
        expect(r.body.type).toBe('urn:nebula-gateway:problem:network-full');
      }

      const before = await scanAll(client, gw.tableName);
      const full = await call('POST', '/v1/hosts', { token: gw.adminToken, body: { name: 'one-more', role: 'environment' } });
      expect(full.status).toBe(409);
      expect(full.body.detail).toMatch(/no free address left in 10\.99\.0\.0\/28/);
      const after = await scanAll(client, gw.tableName);
      const stable = (items: Item[]) => items.filter((i) => i.sk !== 'IPCOUNTER');
      expect(stable(after)).toEqual(stable(before));
      expect(hostsOf(after)).toHaveLength(14);
      expect(leasesOf(after)).toHaveLength(14);
      expect(tokensOf(after)).toHaveLength(14);
      expectConsistent(after);

      // Enroll one host, then revoke it: its address stays quarantined while its certificate is valid.
      const victim = created[0].body;
      const enrolled = await call('POST', '/v1/enroll', { body: { token: victim.enrollment.token, publicKey: publicKey() } });
      expect(enrolled.status).toBe(200);
      expect((await call('DELETE', `/v1/hosts/${victim.host.id}`, { token: gw.adminToken })).status).toBe(200);
      expect((await call('POST', '/v1/hosts', { token: gw.adminToken, body: { name: 'too-soon', role: 'environment' } })).status).toBe(409);
      const explicit = await call('POST', '/v1/hosts', { token: gw.adminToken, body: { name: 'too-soon', role: 'environment', ip: victim.host.ip } });
      expect(explicit.status).toBe(409);
      expect(explicit.body.errors[0].field).toBe('ip');

      // Once the revoked certificate has expired the address is released and handed out again.
      gw.clock.advance(3600_000 + 120_000);
      const reused = await call('POST', '/v1/hosts', { token: gw.adminToken, body: { name: 'reuse', role: 'environment' } });
      expect(reused.status).toBe(201);
      expect(reused.body.host.ip).toBe(victim.host.ip);
      const final = await scanAll(client, gw.tableName);
      expectConsistent(final);
      expect(final.filter((i) => i.pk === 'POOL' || i.pk === 'QUARANTINE')).toEqual([]);
    });
  });
});
