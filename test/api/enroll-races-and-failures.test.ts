/**
 * Enrollment (src/api/routes/enroll.ts) where requests overlap or the store fails, on DynamoDB
 * Local. Each race is forced deterministically: the store the API uses is the real one, with a
 * hook that holds a request at a chosen call until the other side has acted. The rules:
 * - two first enrollments with one token and different keys: exactly one wins; the other gets
 *   409 token-used and no credential, whichever of them reached the write first;
 * - a retry (same token, same key) whose host uses its credential meanwhile: 409, the token is dead;
 * - a store failure during enrollment (first or retry) is a 500 that says nothing of the failure,
 *   never "token used" or "token dead";
 * - a revoked host is never enrolled, even if its record still names the token;
 * - the CA key signs once per enrollment: a retry and a refused other key sign nothing.
 */
import { GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { createApi, type Api, type ApiRequest, hashSecret } from '../../src/api';
import { ALL_ROUTES } from '../../src/api/route-groups/all';
import { DEFAULT_NETWORK_POLICY } from '../../src/mesh';
import { createCA, encodeX25519PublicKeyPem, generateEd25519KeyPair, generateX25519KeyPair, LocalSigner, type Signer } from '../../src/pki';
import { ensureTable, GatewayStore, keys } from '../../src/store';
import { dropTable, scanAll, testDynamoClient, uniqueTableName } from '../support/dynamodb';
import { barrier } from '../support/barrier';

const ADMIN = 'gwa_enroll-races-admin';

function request(method: string, path: string, body?: unknown, token?: string): ApiRequest {
  return {
    method,
    path,
    headers: { ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...(token ? { authorization: `Bearer ${token}` } : {}) },
    query: {},
    body: Buffer.from(body === undefined ? '' : JSON.stringify(body)),
  };
}

type Hooks = { [K in keyof GatewayStore]?: GatewayStore[K] };

describe('enrollment races and failures', () => {
  const client = testDynamoClient();
  const doc = DynamoDBDocumentClient.from(client);
  const tableName = uniqueTableName('gw-enroll-race');
  let store: GatewayStore;
  let api: Api;
  let now = 0;
  let signatures = 0;
  /** Per-test replacements of store methods; the real method is `store[name]`. */
  let hooks: Hooks = {};

  beforeAll(async () => {
    await ensureTable(client, tableName);
    store = new GatewayStore({ client, tableName });
    const local = new LocalSigner(generateEd25519KeyPair().privateKey);
    const signer: Signer = {
      publicKey: () => local.publicKey(),
      sign: (message) => {
        signatures += 1;
        return local.sign(message);
      },
    };
    const ca = await createCA({ signer: local, name: 'enroll-races', duration: '8760h' });
    now = ca.details.notBefore.getTime() + 60_000;
    await store.initNetwork({ cidr: '10.97.0.0/24', caBundle: ca.toPem(), policy: { ...DEFAULT_NETWORK_POLICY }, createdAt: new Date(now).toISOString() });
    const hooked = new Proxy(store, {
      get(target, name: string) {
        const hook = hooks[name as keyof GatewayStore];
        if (hook) return hook;
        const value = Reflect.get(target, name, target) as unknown;
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    api = createApi({ store: hooked, signer, adminTokenHash: hashSecret(ADMIN), clock: () => new Date(now), settings: { enrollmentTokenTtlSeconds: 600 } }, ALL_ROUTES);
  });
  afterEach(() => {
    hooks = {};
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

  it('two first enrollments with one token and different keys, both past the checks before either writes: one wins, the other gets 409', async () => {
    const { host, enrollment } = await create('race-keys');
    // Both requests read the token (no key yet) and the host before either writes.
    const bothRead = barrier(2);
    hooks.getHost = async (id: string) => {
      const found = await store.getHost(id);
      await bothRead();
      return found;
    };
    const [keyA, keyB] = [newKey(), newKey()];
    const answers = await Promise.all([enroll(enrollment.token, keyA), enroll(enrollment.token, keyB)]);
    hooks = {};
    const won = answers.filter((a) => a.status === 200);
    const lost = answers.filter((a) => a.status !== 200);
    expect(won).toHaveLength(1);
    expect(lost).toEqual([
      { status: 409, body: expect.objectContaining({ type: expect.stringMatching(/token-used$/), detail: 'the enrollment token was already used with another public key', errors: [expect.objectContaining({ field: 'token' })] }) },
    ]);
    expect(lost[0].body.credential).toBeUndefined();
    // The host holds the winner's key, and only the winner's credential works.
    const winnerKey = answers[0].status === 200 ? keyA : keyB;
    expect((await store.getHost(host.id))?.publicKey).toBe(winnerKey);
    expect((await answer(request('GET', `/v1/hosts/${host.id}/config`, undefined, won[0].body.credential))).status).toBe(200);
  });

  it('a retry whose host uses its credential meanwhile: 409, the token is dead, and the used credential still works', async () => {
    const { host, enrollment } = await create('race-used');
    const key = newKey();
    const first = await enroll(enrollment.token, key);
    expect(first.status).toBe(200);
    let used: number | undefined;
    hooks.replaceUnusedCredential = async (input) => {
      // The host's first authenticated call lands between the retry's checks and its write.
      used = (await answer(request('GET', `/v1/hosts/${host.id}/config`, undefined, first.body.credential))).status;
      return store.replaceUnusedCredential(input);
    };
    const retry = await enroll(enrollment.token, key);
    hooks = {};
    expect(used).toBe(200);
    expect(retry).toEqual({
      status: 409,
      body: expect.objectContaining({ type: expect.stringMatching(/token-used$/), detail: 'the enrollment token is dead: the host has already used its credential', errors: [expect.objectContaining({ field: 'token' })] }),
    });
    expect((await answer(request('GET', `/v1/hosts/${host.id}/config`, undefined, first.body.credential))).status).toBe(200);
  });

  it('a store failure while enrolling is a 500 that names nothing of it, not a used token', async () => {
    const { host, enrollment } = await create('store-down');
    hooks.completeEnrollment = () => Promise.reject(new Error('simulated DynamoDB outage: ProvisionedThroughputExceededException'));
    const failed = await enroll(enrollment.token, newKey());
    hooks = {};
    expect(failed).toEqual({ status: 500, body: expect.objectContaining({ type: expect.stringMatching(/internal$/) }) });
    expect(JSON.stringify(failed.body)).not.toMatch(/DynamoDB|Throughput/);
    // Nothing was bound: the token still enrolls.
    expect((await store.getHost(host.id))?.status).toBe('pending');
    expect((await enroll(enrollment.token, newKey())).status).toBe(200);
  });

  it('a store failure while a retry replaces the credential is a 500 too, not a dead token; the first credential still works', async () => {
    const { host, enrollment } = await create('store-down-on-retry');
    const key = newKey();
    const first = await enroll(enrollment.token, key);
    expect(first.status).toBe(200);
    hooks.replaceUnusedCredential = () => Promise.reject(new Error('simulated DynamoDB outage: InternalServerError'));
    const failed = await enroll(enrollment.token, key);
    hooks = {};
    expect(failed).toEqual({ status: 500, body: expect.objectContaining({ type: expect.stringMatching(/internal$/) }) });
    expect(JSON.stringify(failed.body)).not.toMatch(/DynamoDB|InternalServerError|token/);
    expect((await answer(request('GET', `/v1/hosts/${host.id}/config`, undefined, first.body.credential))).status).toBe(200);
  });

  it('a revoked host is never enrolled, even if its record still names the token: 401 naming the token, nothing written', async () => {
    const { host, enrollment } = await create('revoked-holder');
    const tokenHash = hashSecret(enrollment.token);
    const tokenItem = (await doc.send(new GetCommand({ TableName: tableName, Key: keys.token(tokenHash) }))).Item!;
    await store.revokeHost({ hostId: host.id, now: new Date(now) });
    // A record left behind by an older version or a partial write: revoked, yet holding the token.
    const revoked = (await doc.send(new GetCommand({ TableName: tableName, Key: keys.host(host.id) }))).Item!;
    expect(revoked.status).toBe('revoked');
    await doc.send(new PutCommand({ TableName: tableName, Item: { ...revoked, tokenHash } }));
    await doc.send(new PutCommand({ TableName: tableName, Item: tokenItem }));
    const before = JSON.stringify(await scanAll(client, tableName));
    const refused = await enroll(enrollment.token, newKey());
    expect(refused).toEqual({
      status: 401,
      body: expect.objectContaining({ detail: 'the enrollment token is unknown, used up or expired', errors: [expect.objectContaining({ field: 'token' })] }),
    });
    expect(JSON.stringify(await scanAll(client, tableName))).toBe(before);
  });

  it('the CA key signs once per enrollment: a retry with the same key and another key with the used token sign nothing', async () => {
    const { enrollment } = await create('signs-once');
    const key = newKey();
    const before = signatures;
    expect((await enroll(enrollment.token, key)).status).toBe(200);
    expect(signatures - before).toBe(1);
    expect((await enroll(enrollment.token, key)).status).toBe(200);
    expect((await enroll(enrollment.token, newKey())).status).toBe(409);
    expect(signatures - before).toBe(1);
  });
});
