import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { createApi, GatewayStore, hashSecret } from '../../src/api';
import { ALL_ROUTES } from '../../src/api/route-groups/all';
import { encodeX25519PublicKeyPem, generateEd25519KeyPair, generateX25519KeyPair, LocalSigner, NebulaCertificate, parseCertificateBundle } from '../../src/pki';
import { testDynamoClient } from '../support/dynamodb';
import { apiClient, startTestGateway, type TestGateway } from '../support/gateway';
import { waitUntil } from '../support/wait';

const HOUR_S = 3600;
const DISTRIBUTE_S = 600;

const issuerOf = (pem: string): string => NebulaCertificate.fromPem(pem).details.issuer;
const fingerprintsOf = (bundle: string): string[] => parseCertificateBundle(bundle).map((c) => c.fingerprint());

/**
 * CA rotation through the API of a real local gateway (DynamoDB Local, HTTP on loopback). Its
 * sweep runs every 100 ms; the test moves the gateway's clock to pass the phases' time bounds.
 */
describe('CA rotation with overlap', () => {
  let gw: TestGateway;
  let call: ReturnType<typeof apiClient>;

  beforeAll(async () => {
    gw = await startTestGateway({ certificateLifetimeSeconds: HOUR_S, sweepIntervalMs: 100 });
    call = apiClient(gw.url);
  });

  afterAll(async () => {
    await gw?.close();
  });

  const enrollHost = async (name: string) => {
    const created = await call('POST', '/v1/hosts', { token: gw.adminToken, body: { name, role: 'environment' } });
    expect(created.status).toBe(201);
    const publicKey = encodeX25519PublicKeyPem(generateX25519KeyPair().publicKey);
    const enrolled = await call('POST', '/v1/enroll', { body: { token: created.body.enrollment.token, publicKey } });
    expect(enrolled.status).toBe(200);
    return { id: created.body.host.id as string, credential: enrolled.body.credential as string, certificate: enrolled.body.certificate as string };
  };
  const config = (host: { id: string; credential: string }) => call('GET', `/v1/hosts/${host.id}/config`, { token: host.credential });
  const renew = (host: { id: string; credential: string }) => call('POST', `/v1/hosts/${host.id}/renew`, { token: host.credential, body: {} });
  const network = async () => (await call('GET', '/v1/network')).body;
  const phase = async () => (await network()).caRotation.phase as string;

  test('start (admin only, bad input, 409), distribute, sign with the new CA, retire the old one, refuse its hosts, end idle', async () => {
    const a = await enrollHost('rot-a');
    const b = await enrollHost('rot-b');
    const before = await network();
    expect(before.caRotation).toEqual({ phase: 'idle' });
    expect(before.caExpiry).toEqual({ notAfter: expect.any(String), daysLeft: expect.any(Number), warning: 'ok' });
    const [oldCa] = before.caFingerprints as string[];
    expect(issuerOf(a.certificate)).toBe(oldCa);

    // Only an admin starts one; bad input names the field and writes nothing.
    expect((await call('POST', '/v1/network/ca-rotation', { body: {} })).status).toBe(401);
    expect((await call('POST', '/v1/network/ca-rotation', { token: a.credential, body: {} })).status).toBe(401);
    for (const [body, field] of [
      [{ distributeSeconds: -1 }, 'distributeSeconds'],
      [{ distributeSeconds: 'soon' }, 'distributeSeconds'],
      [{ distribute: 5 }, 'distribute'],
    ] as const) {
      const refused = await call('POST', '/v1/network/ca-rotation', { token: gw.adminToken, body });
      expect(refused.status).toBe(400);
      expect(refused.headers.get('content-type')).toMatch(/application\/problem\+json/);
      expect(refused.body.errors.map((e: { field: string }) => e.field)).toContain(field);
    }
    const malformed = await call('POST', '/v1/network/ca-rotation', { token: gw.adminToken, rawBody: '{', headers: { 'content-type': 'application/json' } });
    expect(malformed.status).toBe(400);
    expect(await phase()).toBe('idle');
    await expect(stat(join(gw.dataDir, 'ca-next.key'))).rejects.toThrow(/ENOENT/);

    const started = await call('POST', '/v1/network/ca-rotation', { token: gw.adminToken, body: { distributeSeconds: DISTRIBUTE_S } });
    expect(started.status).toBe(201);
    expect(started.body.caRotation.phase).toBe('distributing');
    expect(((await stat(join(gw.dataDir, 'ca-next.key'))).mode & 0o777).toString(8)).toBe('600');
    const again = await call('POST', '/v1/network/ca-rotation', { token: gw.adminToken, body: {} });
    expect(again.status).toBe(409);
    expect(again.body.type).toMatch(/rotation-in-progress$/);

    // distributing: the bundle holds both CAs, certificates still come from the old one.
    const distributing = await network();
    const newCa = distributing.caRotation.newCa.fingerprint as string;
    expect(distributing.caRotation).toMatchObject({ phase: 'distributing', oldCa: { fingerprint: oldCa }, startedAt: expect.any(String), distributeSeconds: DISTRIBUTE_S });
    expect(distributing.caFingerprints).toEqual([oldCa, newCa]);
    const newCert = NebulaCertificate.fromPem(parseCertificateBundle(distributing.ca)[1].toPem());
    const oldCert = parseCertificateBundle(before.ca)[0];
    expect(newCert.details.name).toBe(oldCert.details.name);
    expect(newCert.details.notAfter.getTime() - newCert.details.notBefore.getTime()).toBe(oldCert.details.notAfter.getTime() - oldCert.details.notBefore.getTime());
    const aConfig = await config(a);
    expect(fingerprintsOf(aConfig.body.ca)).toEqual([oldCa, newCa]);
    const renewedEarly = await renew(a);
    expect(renewedEarly.status).toBe(200);
    expect(issuerOf(renewedEarly.body.certificate)).toBe(oldCa);

    // Both hosts fetch the bundle: the sweep counts them and moves to signing before the time bound.
    expect((await config(a)).status).toBe(200);
    expect((await config(b)).status).toBe(200);
    const signing = await waitUntil('the signing phase', network, (n) => n.caRotation.phase === 'signing');
    expect(signing.caRotation).toMatchObject({ hostsHoldingBundle: 2, hostsTotal: 2, signingSince: expect.any(String), oldCaRetiresAt: expect.any(String) });
    expect(signing.caFingerprints).toEqual([oldCa, newCa]);
    const renewed = await renew(a);
    expect(renewed.status).toBe(200);
    expect(issuerOf(renewed.body.certificate)).toBe(newCa);
    expect(fingerprintsOf(renewed.body.ca)).toEqual([oldCa, newCa]);

    // Once every certificate of the old CA has expired, it leaves the bundle.
    gw.clock.advance(Date.parse(signing.caRotation.oldCaRetiresAt) - gw.clock().getTime() + 1000);
    const retiring = await waitUntil('the retiring-old phase', network, (n) => n.caRotation.phase === 'retiring-old');
    expect(retiring.caFingerprints).toEqual([newCa]);
    expect(fingerprintsOf((await config(a)).body.ca)).toEqual([newCa]);

    // b slept through the overlap with its old-CA certificate: a clear refusal, re-enroll.
    const refused = await renew(b);
    expect(refused.status).toBe(403);
    expect(refused.headers.get('content-type')).toMatch(/application\/problem\+json/);
    expect(refused.body.type).toMatch(/ca-retired$/);
    expect(refused.body.detail).toMatch(/re-enroll/);

    // b never fetches this bundle: the rotation ends at the time bound.
    expect(await phase()).toBe('retiring-old');
    gw.clock.advance(DISTRIBUTE_S * 1000 + 1000);
    const idle = await waitUntil('the idle phase', network, (n) => n.caRotation.phase === 'idle');
    expect(idle.caRotation).toEqual({ phase: 'idle', lastCompletedAt: expect.any(String), newCa: { fingerprint: newCa, notAfter: expect.any(String) } });
    expect(idle.caFingerprints).toEqual([newCa]);
    const c = await enrollHost('rot-c');
    expect(issuerOf(c.certificate)).toBe(newCa);
    expect(issuerOf((await renew(a)).body.certificate)).toBe(newCa);

    // The next key now holds the network's CA: another rotation needs the key slots rolled first.
    const next = await call('POST', '/v1/network/ca-rotation', { token: gw.adminToken, body: {} });
    expect(next.status).toBe(409);
    expect(next.body.type).toMatch(/next-ca-key-in-use$/);
  });

  test('without a next CA key the start is refused, saying what to configure, and nothing changes', async () => {
    const client = testDynamoClient();
    const store = new GatewayStore({ client, tableName: gw.tableName });
    const api = createApi({ store, signer: new LocalSigner(generateEd25519KeyPair().privateKey), adminTokenHash: hashSecret('gwa_admin') }, ALL_ROUTES);
    try {
      const versionBefore = await store.getConfigVersion();
      const res = await api({ method: 'POST', path: '/v1/network/ca-rotation', headers: { authorization: 'Bearer gwa_admin' }, query: {}, body: Buffer.from('{}') });
      expect(res.status).toBe(409);
      expect(JSON.parse(res.body).type).toMatch(/no-next-ca-key$/);
      expect(JSON.parse(res.body).detail).toMatch(/"caNextKey": true/);
      expect(await store.getConfigVersion()).toBe(versionBefore);
    } finally {
      api.close();
      client.destroy();
    }
  });

  test("an API holding only the next key (AWS's admin function) starts a rotation from the bundle's CA", async () => {
    const client = testDynamoClient();
    const store = new GatewayStore({ client, tableName: gw.tableName });
    const noCaKey = { publicKey: () => Promise.reject(new Error('no access to the CA key')), sign: () => Promise.reject(new Error('no access to the CA key')) };
    const next = new LocalSigner(generateEd25519KeyPair().privateKey);
    const api = createApi({ store, signer: noCaKey, nextSigner: next, adminTokenHash: hashSecret('gwa_admin') }, ALL_ROUTES);
    try {
      const [current] = (await network()).caFingerprints as string[];
      const res = await api({ method: 'POST', path: '/v1/network/ca-rotation', headers: { authorization: 'Bearer gwa_admin' }, query: {}, body: Buffer.from('{}') });
      expect(res.status).toBe(201);
      const rotation = JSON.parse(res.body).caRotation;
      expect(rotation).toMatchObject({ phase: 'distributing', oldCa: { fingerprint: current }, distributeSeconds: 86_400 });
      const newCa = parseCertificateBundle((await store.getNetwork())!.caBundle).find((c) => c.fingerprint() === rotation.newCa.fingerprint)!;
      expect(Buffer.from(newCa.details.publicKey)).toEqual(Buffer.from(await next.publicKey()));
    } finally {
      api.close();
      client.destroy();
    }
  });
});
