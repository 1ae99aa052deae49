import { createApi, type Api, type ApiRequest, hashSecret, parseAdminRoleArns } from '../../src/api';
import { ALL_ROUTES } from '../../src/api/route-groups/all';
import { DEFAULT_NETWORK_POLICY } from '../../src/mesh';
import { createCA, encodeX25519PublicKeyPem, generateEd25519KeyPair, generateX25519KeyPair, LocalSigner } from '../../src/pki';
import { ensureTable, GatewayStore } from '../../src/store';
import { dropTable, testDynamoClient, uniqueTableName } from '../support/dynamodb';

const ADMIN = 'gwa_multi-instance-admin-token';

function request(method: string, path: string, options: { token?: string; body?: unknown; headers?: Record<string, string>; query?: Record<string, string>; signal?: AbortSignal } = {}): ApiRequest {
  return {
    method,
    path,
    headers: { ...(options.token ? { authorization: `Bearer ${options.token}` } : {}), ...options.headers },
    query: options.query ?? {},
    body: Buffer.from(options.body === undefined ? '' : JSON.stringify(options.body)),
    signal: options.signal,
  };
}

describe('two API instances on one table (as Lambda and the server would be)', () => {
  const client = testDynamoClient();
  const tableName = uniqueTableName('gw-multi');
  let a: Api;
  let b: Api;

  beforeAll(async () => {
    await ensureTable(client, tableName);
    const store = new GatewayStore({ client, tableName });
    const signer = new LocalSigner(generateEd25519KeyPair().privateKey);
    const ca = await createCA({ signer, name: 'multi', duration: '24h' });
    await store.initNetwork({ cidr: '10.50.0.0/24', caBundle: ca.toPem(), policy: { ...DEFAULT_NETWORK_POLICY }, createdAt: new Date().toISOString() });
    // Separate instances share nothing in memory: only the table.
    const deps = () => ({
      store: new GatewayStore({ client, tableName }),
      signer,
      adminTokenHash: hashSecret(ADMIN),
      adminRoles: parseAdminRoleArns('arn:aws:iam::123456789012:role/Admin', 'adminRoles'),
      settings: { versionPollIntervalMs: 200 },
    });
    a = createApi(deps(), ALL_ROUTES);
    b = createApi(deps(), ALL_ROUTES);
  });

  afterAll(async () => {
    a?.close();
    b?.close();
    await dropTable(client, tableName);
    client.destroy();
  });

  const enrolled = async (api: Api, name: string) => {
    const created = JSON.parse((await api(request('POST', '/v1/hosts', { token: ADMIN, body: { name, role: 'environment' } }))).body);
    const publicKey = encodeX25519PublicKeyPem(generateX25519KeyPair().publicKey);
    const result = JSON.parse((await api(request('POST', '/v1/enroll', { body: { token: created.enrollment.token, publicKey } }))).body);
    return { id: result.hostId as string, credential: result.credential as string };
  };

  test("a long-poll on one instance wakes when the other revokes a host, through the version item", async () => {
    const watcher = await enrolled(a, 'watcher');
    const victim = await enrolled(b, 'victim');
    const first = await a(request('GET', `/v1/hosts/${watcher.id}/config`, { token: watcher.credential }));
    expect(first.status).toBe(200);
    const etag = first.headers.etag;
    const waiting = a(request('GET', `/v1/hosts/${watcher.id}/config`, { token: watcher.credential, headers: { 'if-none-match': etag }, query: { wait: '30' } }));
    await new Promise((r) => setTimeout(r, 300));
    expect((await b(request('DELETE', `/v1/hosts/${victim.id}`, { token: ADMIN }))).status).toBe(200);
    const woken = await waiting;
    expect(woken.status).toBe(200);
    expect(woken.headers.etag).not.toBe(etag);
    expect(JSON.parse(woken.body).config).toMatch(/blocklist:\n\s+- [0-9a-f]{64}/);
  });

  test('a long-poll ends with 304 when the wait runs out or the client goes away', async () => {
    const host = await enrolled(a, 'idle');
    const etag = (await a(request('GET', `/v1/hosts/${host.id}/config`, { token: host.credential }))).headers.etag;
    const timedOut = await a(request('GET', `/v1/hosts/${host.id}/config`, { token: host.credential, headers: { 'if-none-match': etag }, query: { wait: '1' } }));
    expect(timedOut.status).toBe(304);
    const controller = new AbortController();
    const waiting = a(request('GET', `/v1/hosts/${host.id}/config`, { token: host.credential, headers: { 'if-none-match': etag }, query: { wait: '60' }, signal: controller.signal }));
    controller.abort();
    expect((await waiting).status).toBe(304);
  });

  test('request.iam of an admin role counts as admin; a body over the limit is 413 before anything else', async () => {
    const iam = { arn: 'arn:aws:sts::123456789012:assumed-role/Admin/session', accountId: '123456789012' };
    const created = await a({ ...request('POST', '/v1/hosts', { body: { name: 'via-iam', role: 'proxy' } }), iam });
    expect(created.status).toBe(201);
    const big = await a({ ...request('POST', '/v1/hosts'), body: Buffer.alloc(64 * 1024 + 1, 0x20) });
    expect(big.status).toBe(413);
    expect(JSON.parse(big.body).errors[0].field).toBe('body');
    const unknown = await a(request('GET', '/v1/nothing'));
    expect(unknown.status).toBe(404);
    const wrongMethod = await a(request('PUT', '/v1/hosts'));
    expect(wrongMethod.status).toBe(405);
    expect(wrongMethod.headers.allow).toBe('POST, GET');
  });
});
