import { ApiError } from '../../src/agent';
import { type RulesPoll, fetchEgressRules } from '../../src/egress';
import { encodeX25519PublicKeyPem, generateX25519KeyPair } from '../../src/pki';
import { apiClient, startTestGateway, type TestGateway } from '../support/gateway';

type Changed = Extract<RulesPoll, { changed: true }>;

/** The egress node's side of `GET /v1/egress/rules`, against the real API on DynamoDB Local. */
describe('fetchEgressRules against the real API', () => {
  let gw: TestGateway;
  let call: ReturnType<typeof apiClient>;

  const admin = async (method: string, path: string, body?: unknown) => {
    const res = await call(method, path, { token: gw.adminToken, body });
    if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${res.text}`);
    return res.body;
  };

  /** Creates and enrolls a host; its id and credential. */
  const enrolled = async (name: string, role: string) => {
    const created = await admin('POST', '/v1/hosts', { name, role });
    const res = await call('POST', '/v1/enroll', { body: { token: created.enrollment.token, publicKey: encodeX25519PublicKeyPem(generateX25519KeyPair().publicKey) } });
    expect(res.status).toBe(200);
    return { hostId: created.host.id as string, credential: res.body.credential as string, ip: created.host.ip as string };
  };

  beforeAll(async () => {
    gw = await startTestGateway({ egressRoutes: ['10.250.0.0/24'] });
    call = apiClient(gw.url);
  });

  afterAll(async () => {
    await gw?.close();
  });

  it('reads the feed, gets a 304 for the same ETag, and the new policy after a PUT', async () => {
    const egress = await enrolled('egress1', 'egress');
    const env = await enrolled('dev1', 'environment');
    await admin('PATCH', `/v1/hosts/${env.hostId}`, { owner: { subject: 'alice', organization: 'acme' } });
    const options = { api: gw.url, hostId: egress.hostId, credential: egress.credential };

    const first = (await fetchEgressRules(options)) as Changed;
    expect(first.changed).toBe(true);
    expect(first.feed).toEqual({ version: expect.any(String), routes: ['10.250.0.0/24'], organizations: [{ organization: 'acme', rules: [], members: [{ hostId: env.hostId, name: 'dev1', ip: env.ip }] }] });
    expect(first.etag).toBe(`"${first.feed.version}"`);
    expect(await fetchEgressRules(options, first.etag)).toEqual({ changed: false });

    await admin('PUT', '/v1/egress-policies/acme', { rules: [{ cidr: '10.250.0.10/32', proto: 'tcp', ports: '5432' }] });
    const second = (await fetchEgressRules(options, first.etag)) as Changed;
    expect(second.changed).toBe(true);
    expect(second.feed.version).not.toBe(first.feed.version);
    expect(second.feed.organizations[0].rules).toEqual([{ cidr: '10.250.0.10/32', proto: 'tcp', ports: { from: 5432, to: 5432 } }]);
    expect(second.json).toMatchObject({ version: second.feed.version });
  });

  it("refuses a host that is not an egress node, and a credential that is not the host's", async () => {
    const env = await enrolled('dev2', 'environment');
    const egress = await enrolled('egress2', 'egress');
    const statusOf = (options: Parameters<typeof fetchEgressRules>[0]) => fetchEgressRules(options).then(() => 200, (err: ApiError) => err.status);
    expect(await statusOf({ api: gw.url, hostId: env.hostId, credential: env.credential })).toBe(403);
    expect(await statusOf({ api: gw.url, hostId: egress.hostId, credential: env.credential })).toBe(401);
  });
});
