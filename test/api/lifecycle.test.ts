import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { encodeX25519PrivateKeyPem, encodeX25519PublicKeyPem, generateX25519KeyPair, NebulaCertificate } from '../../src/pki';
import { NodeVerificationError } from '../../src/api/ec2-node-verifier';
import { scanAll, testDynamoClient } from '../support/dynamodb';
import { havePrerequisites } from '../support/prerequisites';
import { apiClient, startTestGateway, type TestGateway } from '../support/gateway';

const HOUR = 3600_000;
const nebulaInstalled = havePrerequisites(['nebula', 'nebula-cert']);

/** A host key pair made the way the agent makes it: the private key never leaves the test. */
function hostKeys() {
  const pair = generateX25519KeyPair();
  return { publicPem: encodeX25519PublicKeyPem(pair.publicKey), privatePem: encodeX25519PrivateKeyPem(pair.privateKey) };
}

const blocklistOf = (config: string): string[] => (parse(config) as { pki: { blocklist: string[] } }).pki.blocklist;

describe('gateway lifecycle over real HTTP', () => {
  let gw: TestGateway;
  let call: ReturnType<typeof apiClient>;
  let dir: string;
  const fleet = new Map<string, 'lighthouse' | 'proxy'>([['i-0123456789abcdef0', 'proxy']]);

  beforeAll(async () => {
    gw = await startTestGateway({
      certificateLifetimeSeconds: 3600,
      nodeVerifier: {
        async verify(instanceId, role) {
          if (fleet.get(instanceId) !== role) throw new NodeVerificationError('not in the fleet');
          return { publicIp: '198.18.0.9', privateIp: '10.0.0.9' };
        },
      },
    });
    call = apiClient(gw.url);
    dir = await mkdtemp(join(tmpdir(), 'gw-lifecycle-'));
  });

  afterAll(async () => {
    await gw?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const create = async (body: Record<string, unknown>) => {
    const res = await call('POST', '/v1/hosts', { token: gw.adminToken, body });
    expect(res.status).toBe(201);
    return res.body as { host: { id: string; ip: string; status: string }; enrollment: { token: string; expiresAt: string } };
  };
  const enroll = async (token: string, publicKey: string) => call('POST', '/v1/enroll', { body: { token, publicKey } });

  // nebula-cert verifies the issued certificates and nebula -test the configs: the prerequisites rule.
  (nebulaInstalled ? test : test.skip)('create, enroll, config with ETag and long-poll, renew, revoke, blocklist until expiry', async () => {
    const health = await call('GET', '/healthz');
    expect(health.body).toEqual({ status: 'ok', store: 'ok' });
    const network = (await call('GET', '/v1/network')).body;
    expect(network.cidr).toBe('10.42.0.0/16');
    expect(network.caFingerprints).toHaveLength(1);

    const lighthouse = await create({ name: 'lh-1', role: 'lighthouse', ip: '10.42.0.1', endpoints: ['198.18.0.1:4242'] });
    expect(lighthouse.host.ip).toBe('10.42.0.1');
    const env1 = await create({ name: 'env-1', role: 'environment', groups: ['team-a'] });
    const env2 = await create({ name: 'env-2', role: 'environment' });
    const proxy = await create({ name: 'proxy-1', role: 'proxy' });
    expect(new Set([lighthouse, env1, env2, proxy].map((h) => h.host.ip)).size).toBe(4);
    expect(env1.host.status).toBe('pending');
    expect(env1.enrollment.token).toMatch(/^gwe_/);

    const lighthouses = (await call('GET', '/v1/network')).body.lighthouses;
    expect(lighthouses).toEqual([{ hostId: lighthouse.host.id, ip: '10.42.0.1', endpoints: ['198.18.0.1:4242'] }]);

    // Enroll all four; each gets a certificate for its own key, a config and a credential.
    const keys = new Map<string, ReturnType<typeof hostKeys>>();
    const enrolled = new Map<string, any>();
    for (const h of [lighthouse, env1, env2, proxy]) {
      const k = hostKeys();
      keys.set(h.host.id, k);
      const res = await enroll(h.enrollment.token, k.publicPem);
      expect(res.status).toBe(200);
      expect(res.body.hostId).toBe(h.host.id);
      expect(res.body.credential).toMatch(/^gwh_/);
      expect(res.body.ca).toBe(network.ca);
      expect(Date.parse(res.body.expiresAt) - gw.clock().getTime()).toBeGreaterThan(0.9 * HOUR);
      enrolled.set(h.host.id, res.body);
    }

    // Issued certificates verify with nebula-cert against the network's CA; every role's config passes nebula -test.
    await writeFile(join(dir, 'ca.crt'), network.ca);
    for (const [id, result] of enrolled) {
      await writeFile(join(dir, `${id}.crt`), result.certificate);
      await writeFile(join(dir, `${id}.key`), keys.get(id)!.privatePem, { mode: 0o600 });
      const verify = spawnSync('nebula-cert', ['verify', '-ca', join(dir, 'ca.crt'), '-crt', join(dir, `${id}.crt`)], { encoding: 'utf8' });
      expect(verify.stderr + verify.stdout).toBe('');
      expect(verify.status).toBe(0);
      const config = result.config.replace('/etc/nebula/host.key', join(dir, `${id}.key`));
      await writeFile(join(dir, `${id}.yml`), config);
      const test = spawnSync('nebula', ['-test', '-config', join(dir, `${id}.yml`)], { encoding: 'utf8' });
      expect({ id, status: test.status, stderr: test.status === 0 ? '' : test.stderr }).toEqual({ id, status: 0, stderr: '' });
    }
    const printedEnv1 = JSON.parse(execFileSync('nebula-cert', ['print', '-json', '-path', join(dir, `${env1.host.id}.crt`)], { encoding: 'utf8' }));
    expect(printedEnv1.details.groups).toEqual(['environment', 'team-a']);
    expect(printedEnv1.details.ips).toEqual([`${env1.host.ip}/16`]);

    // A retry with the same token and key, before the credential was used: same host, fresh credential.
    const retry = await enroll(env1.enrollment.token, keys.get(env1.host.id)!.publicPem);
    expect(retry.status).toBe(200);
    expect(retry.body.hostId).toBe(env1.host.id);
    expect(retry.body.certificate).toBe(enrolled.get(env1.host.id).certificate);
    expect(retry.body.credential).not.toBe(enrolled.get(env1.host.id).credential);
    const oldCredential = await call('GET', `/v1/hosts/${env1.host.id}/config`, { token: enrolled.get(env1.host.id).credential });
    expect(oldCredential.status).toBe(401);
    const cred1: string = retry.body.credential;
    // Another key with the same token is refused.
    expect((await enroll(env1.enrollment.token, hostKeys().publicPem)).status).toBe(409);

    // Config with ETag; If-None-Match gives 304. Using the credential kills the token for good.
    const config1 = await call('GET', `/v1/hosts/${env1.host.id}/config`, { token: cred1 });
    expect(config1.status).toBe(200);
    const etag = config1.headers.get('etag')!;
    expect(etag).toMatch(/^".+"$/);
    expect(config1.body.config).toContain(`- 10.42.0.1`);
    const notModified = await call('GET', `/v1/hosts/${env1.host.id}/config`, { token: cred1, headers: { 'if-none-match': etag } });
    expect(notModified.status).toBe(304);
    const replay = await enroll(env1.enrollment.token, keys.get(env1.host.id)!.publicPem);
    expect(replay.status).toBe(401);
    expect(replay.body.errors[0].field).toBe('token');

    // Renew env-2 (same key) so it holds two unexpired certificates; renew env-1 with a new key.
    const cred2: string = enrolled.get(env2.host.id).credential;
    // Certificate times are whole seconds: a renewal within the enrollment's second would be the same certificate.
    gw.clock.advance(1000);
    const renewed2 = await call('POST', `/v1/hosts/${env2.host.id}/renew`, { token: cred2 });
    expect(renewed2.status).toBe(200);
    expect(renewed2.body.certificate).not.toBe(enrolled.get(env2.host.id).certificate);
    const newKey = hostKeys();
    const renewed1 = await call('POST', `/v1/hosts/${env1.host.id}/renew`, { token: cred1, body: { publicKey: newKey.publicPem } });
    expect(renewed1.status).toBe(200);
    const env1Host = (await call('GET', `/v1/hosts/${env1.host.id}`, { token: gw.adminToken })).body.host;
    expect(env1Host.ip).toBe(env1.host.ip);
    expect(env1Host.certificateExpiresAt).toBe(renewed1.body.expiresAt);
    await writeFile(join(dir, 'renewed.crt'), renewed1.body.certificate);
    const printedRenewed = JSON.parse(execFileSync('nebula-cert', ['print', '-json', '-path', join(dir, 'renewed.crt')], { encoding: 'utf8' }));
    const keyBytes = Buffer.from(newKey.publicPem.split('\n').slice(1, -2).join(''), 'base64').toString('hex');
    expect(printedRenewed.details.publicKey).toBe(keyBytes);
    const env1Etag = renewed1.headers.get('etag')!;

    // Host A's credential on host B is refused.
    expect((await call('GET', `/v1/hosts/${env2.host.id}/config`, { token: cred1 })).status).toBe(401);
    expect((await call('POST', `/v1/hosts/${env2.host.id}/renew`, { token: cred1 })).status).toBe(401);

    // A long-poll on env-1 wakes when env-2 is revoked; the blocklist holds both of env-2's certificates.
    const waiting = call('GET', `/v1/hosts/${env1.host.id}/config?wait=30`, { token: cred1, headers: { 'if-none-match': env1Etag } });
    await new Promise((r) => setTimeout(r, 300));
    const revoked = await call('DELETE', `/v1/hosts/${env2.host.id}`, { token: gw.adminToken });
    expect(revoked.status).toBe(200);
    expect(revoked.body.host.status).toBe('revoked');
    const woken = await waiting;
    expect(woken.status).toBe(200);
    const fingerprints = [enrolled.get(env2.host.id).certificate, renewed2.body.certificate].map(fingerprintOf);
    expect(blocklistOf(woken.body.config).sort()).toEqual([...fingerprints].sort());

    // Every other host's next config carries the blocklist; the revoked host's credential is dead.
    const credProxy: string = enrolled.get(proxy.host.id).credential;
    const proxyConfig = await call('GET', `/v1/hosts/${proxy.host.id}/config`, { token: credProxy });
    expect(blocklistOf(proxyConfig.body.config).sort()).toEqual([...fingerprints].sort());
    const credLighthouse: string = enrolled.get(lighthouse.host.id).credential;
    expect(blocklistOf((await call('GET', `/v1/hosts/${lighthouse.host.id}/config`, { token: credLighthouse })).body.config)).toHaveLength(2);
    expect((await call('GET', `/v1/hosts/${env2.host.id}/config`, { token: cred2 })).status).toBe(401);
    const blockedConfig = proxyConfig.body.config.replace('/etc/nebula/host.key', join(dir, `${proxy.host.id}.key`));
    await writeFile(join(dir, 'blocked.yml'), blockedConfig);
    expect(spawnSync('nebula', ['-test', '-config', join(dir, 'blocked.yml')]).status).toBe(0);

    // Once the revoked certificates have expired, they leave the blocklist (and the ETag changes).
    const before = await call('GET', `/v1/hosts/${proxy.host.id}/config`, { token: credProxy });
    gw.clock.advance(2 * HOUR);
    const after = await call('GET', `/v1/hosts/${proxy.host.id}/config`, { token: credProxy, headers: { 'if-none-match': before.headers.get('etag')! } });
    expect(after.status).toBe(200);
    expect(blocklistOf(after.body.config)).toEqual([]);
    const swept = await gw.store.sweep(gw.clock());
    expect(swept.expiredRevocations).toBe(2);
    expect(swept.releasedAddresses).toBe(1);

    // Revoking again changes nothing; unknown hosts are 404.
    const again = await call('DELETE', `/v1/hosts/${env2.host.id}`, { token: gw.adminToken });
    expect(again.status).toBe(200);
    expect(again.body.host.revokedAt).toBe(revoked.body.host.revokedAt);
    expect((await call('DELETE', '/v1/hosts/h-aaaaaaaaaaaaaaaa', { token: gw.adminToken })).status).toBe(404);
    expect((await call('GET', '/v1/hosts/h-aaaaaaaaaaaaaaaa', { token: gw.adminToken })).status).toBe(404);

    // Revoking the lighthouse removes it from the network and from the others' configs.
    expect((await call('DELETE', `/v1/hosts/${lighthouse.host.id}`, { token: gw.adminToken })).status).toBe(200);
    expect((await call('GET', '/v1/network')).body.lighthouses).toEqual([]);
    const noLighthouse = await call('GET', `/v1/hosts/${proxy.host.id}/config`, { token: credProxy });
    expect((parse(noLighthouse.body.config) as { static_host_map: object }).static_host_map).toEqual({});
  });

  test('hosts list filters by role and pages with a cursor', async () => {
    for (let i = 0; i < 5; i++) await create({ name: `page-${i}`, role: 'proxy' });
    const seen: string[] = [];
    let cursor: string | undefined;
    do {
      const query = `?role=proxy&limit=2${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
      const page = await call('GET', `/v1/hosts${query}`, { token: gw.adminToken });
      expect(page.status).toBe(200);
      expect(page.body.hosts.length).toBeLessThanOrEqual(2);
      for (const h of page.body.hosts) {
        expect(h.role).toBe('proxy');
        expect(h).not.toHaveProperty('credentialHash');
        expect(h).not.toHaveProperty('tokenHash');
        seen.push(h.id);
      }
      cursor = page.body.nextCursor;
    } while (cursor);
    expect(new Set(seen).size).toBe(seen.length);
    expect(seen.length).toBeGreaterThanOrEqual(6);
    const all = await call('GET', '/v1/hosts?limit=1000', { token: gw.adminToken });
    expect(all.body.hosts.filter((h: { role: string }) => h.role === 'proxy').map((h: { id: string }) => h.id).sort()).toEqual([...seen].sort());
  });

  test('nodes register through the NodeVerifier and keep their host on re-registration', async () => {
    const key = hostKeys();
    const body = { role: 'proxy', publicKey: key.publicPem, instanceId: 'i-0123456789abcdef0' };
    const first = await call('POST', '/v1/nodes/register', { token: gw.adminToken, body });
    expect(first.status).toBe(200);
    expect(first.body.credential).toMatch(/^gwh_/);
    const again = await call('POST', '/v1/nodes/register', { token: gw.adminToken, body: { ...body, publicKey: hostKeys().publicPem } });
    expect(again.status).toBe(200);
    expect(again.body.hostId).toBe(first.body.hostId);
    expect((await call('GET', `/v1/hosts/${first.body.hostId}/config`, { token: first.body.credential })).status).toBe(401);
    expect((await call('GET', `/v1/hosts/${first.body.hostId}/config`, { token: again.body.credential })).status).toBe(200);
    const stranger = await call('POST', '/v1/nodes/register', { token: gw.adminToken, body: { ...body, instanceId: 'i-0fffffffffffffff0' } });
    expect(stranger.status).toBe(403);
    const unauthenticated = await call('POST', '/v1/nodes/register', { body });
    expect(unauthenticated.status).toBe(401);
  });
});

/** Its own gateway: the lifecycle above moves its clock hours ahead, which nebula -test would see. */
describe('lighthouse listen ports over real HTTP', () => {
  const client = testDynamoClient();
  let gw: TestGateway;
  let call: ReturnType<typeof apiClient>;
  let dir: string;

  beforeAll(async () => {
    gw = await startTestGateway({
      nodeVerifier: {
        async verify(instanceId, role) {
          if (!['i-0aaaaaaaaaaaaaaa1', 'i-0bbbbbbbbbbbbbbb2', 'i-0ccccccccccccccc3'].includes(instanceId) || role !== 'lighthouse') {
            throw new NodeVerificationError('not in the fleet');
          }
          return { publicIp: '198.18.0.9', privateIp: '10.0.0.9' };
        },
      },
    });
    call = apiClient(gw.url);
    dir = await mkdtemp(join(tmpdir(), 'gw-lh-port-'));
  });

  afterAll(async () => {
    await gw?.close();
    client.destroy();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const create = async (body: Record<string, unknown>) => {
    const res = await call('POST', '/v1/hosts', { token: gw.adminToken, body });
    expect(res.status).toBe(201);
    return res.body as { host: { id: string; ip: string }; enrollment: { token: string } };
  };
  const enroll = async (token: string, publicKey: string) => call('POST', '/v1/enroll', { body: { token, publicKey } });

  /** nebula -test on a config served by the API, with the key path pointed at a real key (tests using it need nebula: the prerequisites rule). */
  async function nebulaAccepts(name: string, config: string, privatePem: string): Promise<void> {
    await writeFile(join(dir, `${name}.key`), privatePem, { mode: 0o600 });
    await writeFile(join(dir, `${name}.yml`), config.replace('/etc/nebula/host.key', join(dir, `${name}.key`)));
    const test = spawnSync('nebula', ['-test', '-config', join(dir, `${name}.yml`)], { encoding: 'utf8' });
    expect({ name, status: test.status, output: test.status === 0 ? '' : test.stdout + test.stderr }).toEqual({ name, status: 0, output: '' });
  }

  (nebulaInstalled ? test : test.skip)("a lighthouse's nebula listens on the port its endpoints name, which hosts are told", async () => {
    const lighthouse = await create({ name: 'lh-port', role: 'lighthouse', endpoints: ['198.18.0.7:4243', 'lh-port.example.com:4243'] });
    const k = hostKeys();
    const res = await enroll(lighthouse.enrollment.token, k.publicPem);
    expect(res.status).toBe(200);
    expect(parse(res.body.config).listen).toEqual({ host: '0.0.0.0', port: 4243, read_buffer: 10485760, write_buffer: 10485760 });
    await nebulaAccepts('lh-port', res.body.config, k.privatePem);
    // An environment is told that very port.
    const env = await create({ name: 'env-port', role: 'environment' });
    const envKeys = hostKeys();
    const envConfig = parse((await enroll(env.enrollment.token, envKeys.publicPem)).body.config);
    expect(envConfig.static_host_map[lighthouse.host.ip]).toEqual(['198.18.0.7:4243', 'lh-port.example.com:4243']);
  });

  (nebulaInstalled ? test : test.skip)('a lighthouse registering in AWS listens on the port it registered with, and follows a change', async () => {
    const key = hostKeys();
    const body = { role: 'lighthouse', publicKey: key.publicPem, instanceId: 'i-0aaaaaaaaaaaaaaa1', listenPort: 4300 };
    const first = await call('POST', '/v1/nodes/register', { token: gw.adminToken, body });
    expect(first.status).toBe(200);
    expect(parse(first.body.config).listen.port).toBe(4300);
    await nebulaAccepts('lh-aws', first.body.config, key.privatePem);
    const listed = (await call('GET', '/v1/network')).body.lighthouses.find((l: { hostId: string }) => l.hostId === first.body.hostId);
    expect(listed.endpoints).toEqual(['198.18.0.9:4300']);
    const moved = await call('POST', '/v1/nodes/register', { token: gw.adminToken, body: { ...body, listenPort: 4301 } });
    expect(moved.status).toBe(200);
    expect(parse(moved.body.config).listen.port).toBe(4301);
    const config = await call('GET', `/v1/hosts/${first.body.hostId}/config`, { token: moved.body.credential });
    expect(parse(config.body.config).listen.port).toBe(4301);

    // Another instance with that lighthouse's key: 409 naming publicKey, and no host created for it.
    const before = await scanAll(client, gw.tableName);
    const stolen = await call('POST', '/v1/nodes/register', { token: gw.adminToken, body: { ...body, instanceId: 'i-0bbbbbbbbbbbbbbb2' } });
    expect([stolen.status, stolen.body.errors?.[0]?.field]).toEqual([409, 'publicKey']);
    expect(await scanAll(client, gw.tableName)).toEqual(before);
  });

  test('one instance registering concurrently gets one host (its name, the instance id, is no conflict)', async () => {
    const attempts = await Promise.all(
      Array.from({ length: 5 }, () =>
        call('POST', '/v1/nodes/register', { token: gw.adminToken, body: { role: 'lighthouse', publicKey: hostKeys().publicPem, instanceId: 'i-0ccccccccccccccc3' } }),
      ),
    );
    const outcomes = attempts.map((r) => (r.status === 200 ? 'ok' : `${r.status} ${r.body?.type}`));
    expect(outcomes.filter((o) => o !== 'ok' && o !== '409 urn:nebula-gateway:problem:concurrent-registration')).toEqual([]);
    const hostIds = new Set(attempts.filter((r) => r.status === 200).map((r) => r.body.hostId));
    expect(hostIds.size).toBe(1);
    const named = (await call('GET', '/v1/hosts?role=lighthouse&limit=1000', { token: gw.adminToken })).body.hosts.filter((h: { name: string }) => h.name === 'i-0ccccccccccccccc3');
    expect(named.map((h: { id: string }) => h.id)).toEqual([...hostIds]);
  });

});

function fingerprintOf(pem: string): string {
  return NebulaCertificate.fromPem(pem).fingerprint();
}
