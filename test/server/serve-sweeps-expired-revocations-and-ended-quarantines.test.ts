/**
 * The periodic sweep as `gateway serve` runs it (startGateway, here with a short interval and a
 * clock the test moves), against DynamoDB Local. The rule: once a revoked host's certificates have
 * expired, the running gateway itself, with no request asking, deletes their revocations and moves
 * the quarantined address back into the pool; the API then hands the address out again.
 * (The sweep's scheduling alone, with a stand-in store, is test/server/sweeper.test.ts.)
 */
import { encodeX25519PublicKeyPem, generateX25519KeyPair, NebulaCertificate } from '../../src/pki';
import { scanAll, testDynamoClient } from '../support/dynamodb';
import { apiClient, startTestGateway, type TestGateway } from '../support/gateway';
import { waitUntil } from '../support/wait';

const HOUR = 3600_000;

describe('gateway serve sweeps on its own', () => {
  let gw: TestGateway;
  let call: ReturnType<typeof apiClient>;
  const dynamo = testDynamoClient();

  beforeAll(async () => {
    gw = await startTestGateway({ sweepIntervalMs: 100, certificateLifetimeSeconds: 2 * 3600 });
    call = apiClient(gw.url);
  });
  afterAll(async () => {
    await gw?.close();
    dynamo.destroy();
  });

  const admin = async (method: string, path: string, body?: unknown) => call(method, path, { token: gw.adminToken, body });
  const enroll = async (name: string) => {
    const created = (await admin('POST', '/v1/hosts', { name, role: 'environment' })).body;
    const enrolled = await call('POST', '/v1/enroll', { body: { token: created.enrollment.token, publicKey: encodeX25519PublicKeyPem(generateX25519KeyPair().publicKey) } });
    expect(enrolled.status).toBe(200);
    return { id: created.host.id as string, ip: created.host.ip as string, credential: enrolled.body.credential as string, fingerprint: NebulaCertificate.fromPem(enrolled.body.certificate).fingerprint() };
  };
  /** The sweep's part of the table: revocations, and where the revoked address is. */
  const sweepState = async (ip: string) => {
    const items = await scanAll(dynamo, gw.tableName);
    return {
      revocations: items.filter((i) => i.pk === 'REVOKED').map((i) => i.fingerprint),
      lease: items.find((i) => i.pk === `LEASE#${ip}`)?.state,
      queues: items.filter((i) => (i.pk === 'QUARANTINE' || i.pk === 'POOL') && i.ip === ip).map((i) => i.pk),
    };
  };

  it('deletes expired revocations and releases the address once the quarantine ends, without a request', async () => {
    const watcher = await enroll('watcher');
    const victim = await enroll('victim');
    expect((await admin('DELETE', `/v1/hosts/${victim.id}`)).status).toBe(200);

    // While the certificate is valid: blocklisted, the address quarantined and refused.
    expect(await sweepState(victim.ip)).toEqual({ revocations: [victim.fingerprint], lease: 'quarantined', queues: ['QUARANTINE'] });
    const config = await call('GET', `/v1/hosts/${watcher.id}/config`, { token: watcher.credential });
    expect(config.body.config).toContain(victim.fingerprint);
    const early = await admin('POST', '/v1/hosts', { name: 'reuse-early', role: 'environment', ip: victim.ip });
    expect(early.status).toBe(409);
    // Sweeps run meanwhile (five intervals' worth); none may release what is still quarantined.
    await new Promise((r) => setTimeout(r, 500));
    expect(await sweepState(victim.ip)).toEqual({ revocations: [victim.fingerprint], lease: 'quarantined', queues: ['QUARANTINE'] });

    // Past the certificate's expiry, the gateway's own sweep does the rest: no request is made.
    gw.clock.advance(2 * HOUR + 60_000);
    const swept = await waitUntil(
      'the sweep to delete the revocation and pool the address (the table so far)',
      () => sweepState(victim.ip),
      (state) => state.revocations.length === 0 && state.lease === 'free',
      { timeoutMs: 20_000, intervalMs: 100 },
    );
    expect(swept).toEqual({ revocations: [], lease: 'free', queues: ['POOL'] });

    // Through the API: gone from the blocklist, and the address is handed out again.
    const watcherAgain = await call('GET', `/v1/hosts/${watcher.id}/config`, { token: watcher.credential });
    expect(watcherAgain.body.config).not.toContain(victim.fingerprint);
    const reused = await admin('POST', '/v1/hosts', { name: 'reuse', role: 'environment', ip: victim.ip });
    expect(reused.status).toBe(201);
    expect(reused.body.host.ip).toBe(victim.ip);
    expect(await sweepState(victim.ip)).toEqual({ revocations: [], lease: 'held', queues: [] });
  });
});
