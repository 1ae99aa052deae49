/**
 * Enrollment (src/api/routes/enroll.ts) through the API on DynamoDB Local. The rule: an
 * enrollment token works once, for one key: before its expiry (exclusive), for a host that is not
 * revoked and still holds it; a retry with the same key (a lost answer) gets the same host and a
 * fresh credential until the host uses its credential; another key is refused; a key another host
 * holds is refused; each refusal names the field and writes nothing.
 */
import { createApi, type Api, type ApiLogger, type ApiRequest, hashSecret } from '../../src/api';
import { ALL_ROUTES } from '../../src/api/route-groups/all';
import { DEFAULT_NETWORK_POLICY } from '../../src/mesh';
import { createCA, encodeX25519PublicKeyPem, generateEd25519KeyPair, generateX25519KeyPair, LocalSigner, NebulaCertificate } from '../../src/pki';
import { ensureTable, GatewayStore, keys } from '../../src/store';
import { dropTable, scanAll, testDynamoClient, uniqueTableName } from '../support/dynamodb';

const ADMIN = 'gwa_enroll-once-admin';
const TOKEN_TTL_SECONDS = 600;

function request(method: string, path: string, body?: unknown, token?: string): ApiRequest {
  return {
    method,
    path,
    headers: { ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...(token ? { authorization: `Bearer ${token}` } : {}) },
    query: {},
    body: Buffer.from(body === undefined ? '' : JSON.stringify(body)),
  };
}

describe('an enrollment token works once, for one key', () => {
  const client = testDynamoClient();
  const tableName = uniqueTableName('gw-enroll');
  let store: GatewayStore;
  let api: Api;
  let now = Math.floor(Date.now() / 1000) * 1000;
  const logged: { message: string; fields?: Record<string, unknown> }[] = [];
  const logger: ApiLogger = { info: (message, fields) => logged.push({ message, fields }), error: () => undefined };

  beforeAll(async () => {
    await ensureTable(client, tableName);
    store = new GatewayStore({ client, tableName });
    const signer = new LocalSigner(generateEd25519KeyPair().privateKey);
    const ca = await createCA({ signer, name: 'enroll', duration: '8760h' });
    // The gateway's clock: a minute into the CA's validity, whenever the test runs.
    now = ca.details.notBefore.getTime() + 60_000;
    await store.initNetwork({ cidr: '10.96.0.0/24', caBundle: ca.toPem(), policy: { ...DEFAULT_NETWORK_POLICY }, createdAt: new Date(now).toISOString() });
    api = createApi({ store, signer, adminTokenHash: hashSecret(ADMIN), clock: () => new Date(now), logger, settings: { enrollmentTokenTtlSeconds: TOKEN_TTL_SECONDS } }, ALL_ROUTES);
  });
  afterAll(async () => {
    api?.close();
    await dropTable(client, tableName);
    client.destroy();
  });

  const answer = async (req: ApiRequest) => {
    const res = await api(req);
    return { status: res.status, body: res.body ? JSON.parse(res.body as string) : undefined };
  };
  const newKey = () => encodeX25519PublicKeyPem(generateX25519KeyPair().publicKey);
  const create = async (name: string) => (await answer(request('POST', '/v1/hosts', { name, role: 'environment' }, ADMIN))).body as { host: { id: string }; enrollment: { token: string } };
  const enroll = (token: string, publicKey: string) => answer(request('POST', '/v1/enroll', { token, publicKey }));
  /** The answer, and whether the table changed. */
  const attempt = async (token: string, publicKey: string) => {
    const before = await scanAll(client, tableName);
    const res = await enroll(token, publicKey);
    return { ...res, wrote: JSON.stringify(await scanAll(client, tableName)) !== JSON.stringify(before) };
  };

  it('enrolls once, says so in the log (host and fingerprint, no secret), and retries with the same key get the same host', async () => {
    const { host, enrollment } = await create('once');
    const key = newKey();
    const first = await enroll(enrollment.token, key);
    expect({ status: first.status, detail: first.body.detail }).toMatchObject({ status: 200 });
    const fingerprint = NebulaCertificate.fromPem(first.body.certificate).fingerprint();
    expect(logged.filter((l) => l.message === 'host enrolled')).toEqual([{ message: 'host enrolled', fields: { hostId: host.id, fingerprint } }]);
    const retry = await enroll(enrollment.token, key);
    expect(retry.status).toBe(200);
    expect(retry.body.hostId).toBe(host.id);
    expect(retry.body.credential).not.toBe(first.body.credential);
    // The fresh credential replaced the first one.
    expect((await answer(request('GET', `/v1/hosts/${host.id}/config`, undefined, first.body.credential))).status).toBe(401);
    expect((await answer(request('GET', `/v1/hosts/${host.id}/config`, undefined, retry.body.credential))).status).toBe(200);
  });

  it('another key with a used token: 409 token-used naming the token, nothing written', async () => {
    const { enrollment } = await create('other-key');
    expect((await enroll(enrollment.token, newKey())).status).toBe(200);
    const refused = await attempt(enrollment.token, newKey());
    expect(refused).toMatchObject({ status: 409, wrote: false, body: { type: expect.stringMatching(/token-used$/), detail: 'the enrollment token was already used with another public key', errors: [expect.objectContaining({ field: 'token' })] } });
  });

  it('many enrollments at once with one token and one key: one host, every answer its own', async () => {
    const { host, enrollment } = await create('racing');
    const key = newKey();
    const answers = await Promise.all(Array.from({ length: 5 }, () => enroll(enrollment.token, key)));
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200, 200, 200]);
    expect(new Set(answers.map((a) => a.body.hostId))).toEqual(new Set([host.id]));
  });

  it("a key another host holds: 409 public-key-taken naming publicKey, nothing written", async () => {
    const key = newKey();
    expect((await enroll((await create('key-holder')).enrollment.token, key)).status).toBe(200);
    const refused = await attempt((await create('key-thief')).enrollment.token, key);
    expect(refused).toMatchObject({ status: 409, wrote: false, body: { type: expect.stringMatching(/public-key-taken$/), errors: [expect.objectContaining({ field: 'publicKey' })] } });
  });

  it('refuses what is not a live enrollment token, naming the token field, writing nothing', async () => {
    const unknownDetail = 'the enrollment token is unknown, used up or expired';
    expect(await attempt('gwh_not-an-enrollment-token', newKey())).toMatchObject({ status: 401, wrote: false, body: { detail: 'not an enrollment token (gwe_...)', errors: [expect.objectContaining({ field: 'token' })] } });
    expect(await attempt('gwe_never-issued', newKey())).toMatchObject({ status: 401, wrote: false, body: { detail: unknownDetail } });

    // A token whose host no longer holds it (or that points at no host) is no token.
    const { host, enrollment } = await create('stale-token');
    const tokenKey = keys.token(hashSecret(enrollment.token));
    const tokenItem = (await scanAll(client, tableName)).find((i) => i.pk === tokenKey.pk)!;
    await store.batchPut([{ ...tokenItem, hostId: 'h-nobody' } as never]);
    expect(await attempt(enrollment.token, newKey())).toMatchObject({ status: 401, wrote: false, body: { detail: unknownDetail } });
    const other = await create('token-moved');
    await store.batchPut([{ ...tokenItem, hostId: other.host.id } as never]);
    expect(await attempt(enrollment.token, newKey())).toMatchObject({ status: 401, wrote: false, body: { detail: unknownDetail } });
    await store.batchPut([{ ...tokenItem, hostId: host.id } as never]);
    // A revoked host's token, were it left behind.
    await store.revokeHost({ hostId: host.id, now: new Date(now) });
    await store.batchPut([{ ...tokenItem, hostId: host.id } as never]);
    expect(await attempt(enrollment.token, newKey())).toMatchObject({ status: 401, wrote: false, body: { detail: unknownDetail } });
  });

  it('a token is good until its expiry, exclusive', async () => {
    const early = await create('expiry-edge');
    const late = await create('expired');
    const start = now;
    try {
      now = start + TOKEN_TTL_SECONDS * 1000 - 1;
      expect((await enroll(early.enrollment.token, newKey())).status).toBe(200);
      now = start + TOKEN_TTL_SECONDS * 1000;
      expect(await attempt(late.enrollment.token, newKey())).toMatchObject({ status: 401, wrote: false, body: { detail: 'the enrollment token has expired' } });
    } finally {
      now = start;
    }
  });
});
