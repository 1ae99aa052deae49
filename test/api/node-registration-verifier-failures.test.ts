/**
 * Node registration when the node verifier does not say yes (src/api/routes/nodes.ts), on DynamoDB
 * Local. The verifier here is a stand-in for the EC2 one (the contract under test is the route's:
 * EC2 itself is covered by node-registration-each-guard-refuses.test.ts). The rules: a
 * NodeVerificationError is 403 not-in-fleet with its reason; any other Error is 503 (the check
 * failed); a rejection that is not an Error at all (null, undefined, a string, a plain object) is
 * 502 node-verification-failed naming the instance, never a 500; nothing is written in any case.
 */
import { createApi, type Api, type ApiRequest, hashSecret, type NodeVerifier } from '../../src/api';
import { NODE_REGISTER_ROUTES } from '../../src/api/route-groups/node-register';
import { DEFAULT_NETWORK_POLICY } from '../../src/mesh';
import { createCA, encodeX25519PublicKeyPem, generateEd25519KeyPair, generateX25519KeyPair, LocalSigner } from '../../src/pki';
import { ensureTable, GatewayStore } from '../../src/store';
import { dropTable, scanAll, testDynamoClient, uniqueTableName } from '../support/dynamodb';

const ADMIN = 'gwa_node-verifier-failures-admin';
const INSTANCE = 'i-0123456789abcdef0';

describe('POST /v1/nodes/register when the node verifier fails', () => {
  const client = testDynamoClient();
  const tableName = uniqueTableName('gw-node-verifier');
  let api: Api;
  let rejection: unknown;
  const verifier: NodeVerifier = { verify: () => Promise.reject(rejection) } as unknown as NodeVerifier;

  beforeAll(async () => {
    await ensureTable(client, tableName);
    const store = new GatewayStore({ client, tableName });
    const signer = new LocalSigner(generateEd25519KeyPair().privateKey);
    const ca = await createCA({ signer, name: 'node-verifier', duration: '24h' });
    await store.initNetwork({ cidr: '10.61.0.0/24', caBundle: ca.toPem(), policy: { ...DEFAULT_NETWORK_POLICY }, createdAt: new Date().toISOString() });
    api = createApi({ store, signer, adminTokenHash: hashSecret(ADMIN), nodeVerifier: verifier }, NODE_REGISTER_ROUTES);
  });
  afterAll(async () => {
    api?.close();
    await dropTable(client, tableName);
    client.destroy();
  });

  const register = (): ApiRequest => ({
    method: 'POST',
    path: '/v1/nodes/register',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${ADMIN}` },
    query: {},
    body: Buffer.from(JSON.stringify({ role: 'proxy', publicKey: encodeX25519PublicKeyPem(generateX25519KeyPair().publicKey), instanceId: INSTANCE })),
  });

  it('answers each kind of failure with its own status, naming the instance, writing nothing', async () => {
    const notInFleet = Object.assign(new Error(`instance ${INSTANCE} is tagged nebula-gateway:role=lighthouse, not proxy`), { name: 'NodeVerificationError' });
    const cases: [string, unknown, number, string, string, RegExp][] = [
      ['not in the fleet', notInFleet, 403, 'not-in-fleet', 'Forbidden', new RegExp(`instance ${INSTANCE} is not a proxy of this gateway: instance ${INSTANCE} is tagged`)],
      ['EC2 unreachable', new Error('connect ETIMEDOUT'), 503, 'node-verification-unavailable', 'Service unavailable', new RegExp(`could not check instance ${INSTANCE}: connect ETIMEDOUT`)],
      ['null', null, 502, 'node-verification-failed', 'Bad gateway', new RegExp(`could not check instance ${INSTANCE}: the node verifier failed without an error`)],
      ['undefined', undefined, 502, 'node-verification-failed', 'Bad gateway', /the node verifier failed without an error/],
      ['a string', 'throttled', 502, 'node-verification-failed', 'Bad gateway', /the node verifier failed without an error/],
      ['a plain object', { name: 'NodeVerificationError', message: 'looks like one' }, 502, 'node-verification-failed', 'Bad gateway', /the node verifier failed without an error/],
    ];
    for (const [what, thrown, status, type, title, detail] of cases) {
      rejection = thrown;
      const before = JSON.stringify(await scanAll(client, tableName));
      const response = await api(register());
      const problem = JSON.parse(response.body as string);
      expect({ what, status: response.status, contentType: response.headers?.['content-type'], type: problem.type, title: problem.title, detail: problem.detail }).toEqual({
        what,
        status,
        contentType: 'application/problem+json',
        type: expect.stringMatching(new RegExp(`${type}$`)),
        title,
        detail: expect.stringMatching(detail),
      });
      expect({ what, wrote: JSON.stringify(await scanAll(client, tableName)) !== before }).toEqual({ what, wrote: false });
    }
  });
});
