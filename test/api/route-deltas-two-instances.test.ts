/**
 * Route deltas across API instances on one table (the server's tasks, the Lambda functions):
 * a proxy's long-poll on one instance wakes with the delta of a change made through another, and a
 * version one instance handed out is never "unknown" to another whose cached head is behind.
 */
import { createApi, type Api, type ApiRequest, hashSecret } from '../../src/api';
import { ALL_ROUTES } from '../../src/api/route-groups/all';
import { DEFAULT_NETWORK_POLICY } from '../../src/mesh';
import { createCA, generateEd25519KeyPair, LocalSigner } from '../../src/pki';
import { ensureTable, GatewayStore } from '../../src/store';
import { dropTable, testDynamoClient, uniqueTableName } from '../support/dynamodb';

const ADMIN = 'gwa_route-deltas-two-instances';
const OWNER = { subject: 'alice', organization: 'acme' };

function request(method: string, path: string, options: { body?: unknown; query?: Record<string, string> } = {}): ApiRequest {
  return {
    method,
    path,
    headers: { authorization: `Bearer ${ADMIN}` },
    query: options.query ?? {},
    body: Buffer.from(options.body === undefined ? '' : JSON.stringify(options.body)),
  };
}

describe('route deltas across two API instances', () => {
  const client = testDynamoClient();
  const tableName = uniqueTableName('gw-deltas-two');
  const apis: Api[] = [];
  let a: Api;
  let b: Api;
  /** An instance that re-reads the route head only once a minute unless told otherwise. */
  let slow: Api;

  beforeAll(async () => {
    await ensureTable(client, tableName);
    const store = new GatewayStore({ client, tableName });
    const signer = new LocalSigner(generateEd25519KeyPair().privateKey);
    const ca = await createCA({ signer, name: 'deltas', duration: '24h' });
    await store.initNetwork({ cidr: '10.51.0.0/24', caBundle: ca.toPem(), policy: { ...DEFAULT_NETWORK_POLICY }, createdAt: new Date().toISOString() });
    // Separate instances share nothing in memory: only the table.
    const api = (versionPollIntervalMs: number) => {
      const created = createApi({ store: new GatewayStore({ client, tableName }), signer, adminTokenHash: hashSecret(ADMIN), settings: { versionPollIntervalMs } }, ALL_ROUTES);
      apis.push(created);
      return created;
    };
    a = api(200);
    b = api(200);
    slow = api(60_000);
  });
  afterAll(async () => {
    for (const api of apis) api.close();
    await dropTable(client, tableName);
    client.destroy();
  });

  const json = async (api: Api, req: ApiRequest) => {
    const res = await api(req);
    return { status: res.status, body: res.body ? JSON.parse(res.body.toString()) : undefined };
  };
  const putPort = async (api: Api, id: string, port: number) =>
    expect((await api(request('PUT', `/v1/hosts/${id}/ports/${port}`, { body: { access: 'private' } }))).status).toBe(200);

  test('a long-poll on one instance wakes with the delta of a change made through the other', async () => {
    const host = (await json(a, request('POST', '/v1/hosts', { body: { name: 'two-a', role: 'environment', owner: OWNER } }))).body.host;
    const start = (await json(b, request('GET', '/v1/routes'))).body.version as string;
    const held = json(b, request('GET', '/v1/routes', { query: { since: start, wait: '30' } }));
    await putPort(a, host.id, 3000);
    const woken = await held;
    expect(woken.status).toBe(200);
    expect(woken.body.from).toBe(start);
    expect(woken.body.upsert).toEqual([{ hostId: host.id, ip: host.ip, owner: OWNER, ports: [{ port: 3000, access: 'private', protocol: 'http' }] }]);
  });

  test('a version from another instance is caught up with, not answered with the whole table', async () => {
    const host = (await json(a, request('POST', '/v1/hosts', { body: { name: 'two-b', role: 'environment', owner: OWNER } }))).body.host;
    // The slow instance reads the head now and keeps it for a minute.
    const before = (await json(slow, request('GET', '/v1/routes'))).body.version as string;
    await putPort(a, host.id, 4000);
    await putPort(a, host.id, 4001);
    const delta = (await json(a, request('GET', '/v1/routes', { query: { since: before } }))).body;
    expect(delta.from).toBe(before);
    // The proxy's next request lands on the slow instance, whose cached head is two changes behind.
    const next = await slow(request('GET', '/v1/routes', { query: { since: delta.to } }));
    expect(next.status).toBe(304);
    // From the older version, the slow instance (now at the head it re-read) answers the same delta.
    const again = await json(slow, request('GET', '/v1/routes', { query: { since: before } }));
    expect(again).toEqual({ status: 200, body: delta });
    expect(delta.upsert[0].ports.map((p: { port: number }) => p.port)).toEqual([4000, 4001]);
  });
});
