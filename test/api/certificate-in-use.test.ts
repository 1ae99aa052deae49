import { parse } from 'yaml';
import { encodeX25519PublicKeyPem, generateX25519KeyPair, parseCertificateBundle } from '../../src/pki';
import { apiClient, startTestGateway, type TestGateway } from '../support/gateway';

/**
 * `POST /v1/hosts/{id}/certificate-in-use`: after a renewal for a new key the agent says its nebula
 * runs on the new certificate, and only then is the old key's certificate blocklisted everywhere.
 */
describe('retiring the certificate a key rotation replaced', () => {
  let gw: TestGateway;
  let call: ReturnType<typeof apiClient>;

  beforeAll(async () => {
    gw = await startTestGateway({ certificateLifetimeSeconds: 3600 });
    call = apiClient(gw.url);
  });
  afterAll(async () => gw?.close());

  const newKey = () => encodeX25519PublicKeyPem(generateX25519KeyPair().publicKey);
  const fingerprintOf = (pem: string) => parseCertificateBundle(pem)[0].fingerprint();
  const blocklistOf = (config: string): string[] => (parse(config) as { pki: { blocklist?: string[] } }).pki.blocklist ?? [];

  async function enrolled(name: string): Promise<{ id: string; credential: string; certificate: string }> {
    const created = await call('POST', '/v1/hosts', { token: gw.adminToken, body: { name, role: 'environment', owner: { subject: 'dev', organization: 'acme' } } });
    expect(created.status).toBe(201);
    const res = await call('POST', '/v1/enroll', { body: { token: created.body.enrollment.token, publicKey: newKey() } });
    expect(res.status).toBe(200);
    return { id: created.body.host.id, credential: res.body.credential, certificate: res.body.certificate };
  }

  const peerBlocklist = async (peer: { id: string; credential: string }) => blocklistOf((await call('GET', `/v1/hosts/${peer.id}/config`, { token: peer.credential })).body.config);

  test('the old certificate stays valid through the renewal and is blocklisted once the new one is said to be in use', async () => {
    const host = await enrolled('rotating');
    const peer = await enrolled('peer');
    const oldFingerprint = fingerprintOf(host.certificate);

    const renewed = await call('POST', `/v1/hosts/${host.id}/renew`, { token: host.credential, body: { publicKey: newKey() } });
    expect(renewed.status).toBe(200);
    const newFingerprint = fingerprintOf(renewed.body.certificate);
    expect(newFingerprint).not.toBe(oldFingerprint);
    // Not yet: the host's nebula may still run on the old certificate.
    expect(await peerBlocklist(peer)).not.toContain(oldFingerprint);

    const stale = await call('POST', `/v1/hosts/${host.id}/certificate-in-use`, { token: host.credential, body: { fingerprint: oldFingerprint } });
    expect(stale.status).toBe(409);
    expect(stale.headers.get('content-type')).toBe('application/problem+json');
    expect(stale.body.errors.map((e: { field: string }) => e.field)).toEqual(['fingerprint']);
    expect(await peerBlocklist(peer)).not.toContain(oldFingerprint);

    const done = await call('POST', `/v1/hosts/${host.id}/certificate-in-use`, { token: host.credential, body: { fingerprint: newFingerprint } });
    expect(done.status).toBe(200);
    expect(done.body).toEqual({ retired: [oldFingerprint] });
    const blocklist = await peerBlocklist(peer);
    expect(blocklist).toContain(oldFingerprint);
    expect(blocklist).not.toContain(newFingerprint);
    // The host itself keeps working on its new certificate.
    const own = await call('GET', `/v1/hosts/${host.id}/config`, { token: host.credential });
    expect(own.status).toBe(200);
    expect(fingerprintOf(own.body.certificate)).toBe(newFingerprint);

    const again = await call('POST', `/v1/hosts/${host.id}/certificate-in-use`, { token: host.credential, body: { fingerprint: newFingerprint } });
    expect(again.body).toEqual({ retired: [] });
  });

  test('bad input names the field and blocklists nothing; only the host itself may ask', async () => {
    const host = await enrolled('careful');
    const peer = await enrolled('onlooker');
    const before = await peerBlocklist(peer);
    const renewed = await call('POST', `/v1/hosts/${host.id}/renew`, { token: host.credential, body: { publicKey: newKey() } });
    const current = fingerprintOf(renewed.body.certificate);
    const path = `/v1/hosts/${host.id}/certificate-in-use`;
    for (const body of [{}, { fingerprint: 'abc' }, { fingerprint: current.toUpperCase() }, { fingerprint: current, extra: 1 }]) {
      const res = await call('POST', path, { token: host.credential, body });
      expect(res.status).toBe(400);
      expect(res.headers.get('content-type')).toBe('application/problem+json');
      expect(res.body.errors.length).toBeGreaterThan(0);
      expect(res.body.errors.map((e: { field: string }) => e.field).join(' ')).toMatch(/fingerprint|extra/);
    }
    expect((await call('POST', path, { body: { fingerprint: current } })).status).toBe(401);
    expect((await call('POST', path, { token: peer.credential, body: { fingerprint: current } })).status).toBe(401);
    expect((await call('POST', path, { token: gw.adminToken, body: { fingerprint: current } })).status).toBe(401);
    expect(await peerBlocklist(peer)).toEqual(before);
    expect(before).not.toContain(fingerprintOf(host.certificate));
  });
});
