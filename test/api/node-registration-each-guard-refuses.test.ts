/**
 * Node registration as API Gateway delivers it (the caller's IAM identity on the request), with
 * the production Ec2NodeVerifier asking EC2 about the instance. EC2 has no local implementation,
 * so DescribeInstances is mocked with aws-sdk-client-mock; the store is DynamoDB Local.
 *
 * The rule: every check is what refuses. Each case below is a valid registration with exactly
 * one thing wrong, and the refusal names that thing; nothing is written for a refused request.
 */
import { DescribeInstancesCommand, type DescribeInstancesCommandOutput, EC2Client, EC2ServiceException } from '@aws-sdk/client-ec2';
import { mockClient } from 'aws-sdk-client-mock';
import { createApi, type Api, type ApiRequest, hashSecret, type NodeVerifier } from '../../src/api';
import { Ec2NodeVerifier } from '../../src/api/ec2-node-verifier';
import { NODE_REGISTER_ROUTES } from '../../src/api/route-groups/node-register';
import { DEFAULT_NETWORK_POLICY } from '../../src/mesh';
import { Ipv4Cidr } from '../../src/mesh/cidr';
import { createCA, encodeX25519PublicKeyPem, generateEd25519KeyPair, generateX25519KeyPair, LocalSigner, NebulaCertificate } from '../../src/pki';
import { ensureTable, GatewayStore } from '../../src/store';
import { dropTable, scanAll, testDynamoClient, uniqueTableName } from '../support/dynamodb';

const ACCOUNT = '123456789012';
const NETWORK_TAG = { key: 'nebula-gateway:network', value: 'NebulaGateway' };
const ROLE_TAG = 'nebula-gateway:role';
const ADMIN = 'gwa_node-registration-admin';

const ec2 = mockClient(EC2Client);

const newKey = () => encodeX25519PublicKeyPem(generateX25519KeyPair().publicKey);
const sessionArn = (instanceId: string, role = 'GatewayLighthouseRole') => `arn:aws:sts::${ACCOUNT}:assumed-role/${role}/${instanceId}`;

/** What EC2 says about `instanceId`: a running instance of this gateway's `role` fleet, unless overridden. */
function describes(instanceId: string, role: string, overrides: Record<string, unknown> = {}): Partial<DescribeInstancesCommandOutput> {
  return {
    Reservations: [
      {
        Instances: [
          {
            InstanceId: instanceId,
            State: { Name: 'running' },
            PublicIpAddress: '198.51.100.20',
            PrivateIpAddress: '10.40.1.20',
            Tags: [
              { Key: NETWORK_TAG.key, Value: NETWORK_TAG.value },
              { Key: ROLE_TAG, Value: role },
            ],
            ...overrides,
          },
        ],
      },
    ],
  };
}

function register(body: Record<string, unknown>, identity: { arn: string } | undefined, token?: string): ApiRequest {
  return {
    method: 'POST',
    path: '/v1/nodes/register',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    query: {},
    body: Buffer.from(JSON.stringify(body)),
    ...(identity ? { iam: { arn: identity.arn, accountId: ACCOUNT } } : {}),
  };
}

describe('POST /v1/nodes/register: each guard, alone, refuses', () => {
  const client = testDynamoClient();
  const tableName = uniqueTableName('gw-node-guards');
  let store: GatewayStore;
  let signer: LocalSigner;
  let api: Api;
  let instanceCounter = 0x100;
  /** A fresh instance id per case, so no case depends on another's state. */
  const nextInstance = () => `i-0000000000000${(instanceCounter++).toString(16)}`;

  beforeAll(async () => {
    await ensureTable(client, tableName);
    store = new GatewayStore({ client, tableName });
    signer = new LocalSigner(generateEd25519KeyPair().privateKey);
    const ca = await createCA({ signer, name: 'node-guards', duration: '24h' });
    await store.initNetwork({ cidr: '10.60.0.0/24', caBundle: ca.toPem(), policy: { ...DEFAULT_NETWORK_POLICY }, createdAt: new Date().toISOString() });
    const nodeVerifier = new Ec2NodeVerifier({ client: new EC2Client({}), networkTag: NETWORK_TAG, roleTagKey: ROLE_TAG });
    api = createApi({ store, signer, adminTokenHash: hashSecret(ADMIN), nodeVerifier }, NODE_REGISTER_ROUTES);
  });

  beforeEach(() => ec2.reset());

  afterAll(async () => {
    api?.close();
    await dropTable(client, tableName);
    client.destroy();
  });

  /** The request's answer, and whether the table changed (it must not, for a refusal). */
  async function attempt(request: ApiRequest): Promise<{ status: number; problem: Record<string, unknown>; wrote: boolean }> {
    const before = await scanAll(client, tableName);
    const response = await api(request);
    const after = await scanAll(client, tableName);
    return { status: response.status, problem: JSON.parse(response.body as string), wrote: JSON.stringify(after) !== JSON.stringify(before) };
  }

  it('registers a running, tagged lighthouse whose IAM session is the instance (the baseline every case below breaks once)', async () => {
    const id = nextInstance();
    ec2.on(DescribeInstancesCommand, { InstanceIds: [id] }).resolves(describes(id, 'lighthouse'));
    const response = await api(register({ role: 'lighthouse', publicKey: newKey() }, { arn: sessionArn(id) }));
    expect(response.status).toBe(200);
    const body = JSON.parse(response.body as string);
    expect(NebulaCertificate.fromPem(body.certificate).details).toMatchObject({ name: id, groups: ['lighthouse'] });
    expect(body.credential).toMatch(/^gwh_/);
    const host = await store.getHost(body.hostId);
    expect(host).toMatchObject({ instanceId: id, role: 'lighthouse', status: 'active', endpoints: ['198.51.100.20:4242'] });
    expect(ec2.commandCalls(DescribeInstancesCommand).map((c) => c.args[0].input)).toEqual([{ InstanceIds: [id] }]);
  });

  it.each([
    ['stopped', { State: { Name: 'stopped' } }, /is stopped, not running/],
    ['pending', { State: { Name: 'pending' } }, /is pending, not running/],
    ['in no state EC2 reports', { State: undefined }, /is in an unknown state, not running/],
    ['of another gateway', { Tags: [{ Key: NETWORK_TAG.key, Value: 'OtherGateway' }, { Key: ROLE_TAG, Value: 'lighthouse' }] }, /is not tagged nebula-gateway:network=NebulaGateway/],
    ['without the network tag', { Tags: [{ Key: ROLE_TAG, Value: 'lighthouse' }] }, /is not tagged nebula-gateway:network=NebulaGateway/],
    ['of the proxy fleet', { Tags: [{ Key: NETWORK_TAG.key, Value: NETWORK_TAG.value }, { Key: ROLE_TAG, Value: 'proxy' }] }, /is tagged nebula-gateway:role=proxy, not lighthouse/],
    ['in no fleet', { Tags: [{ Key: NETWORK_TAG.key, Value: NETWORK_TAG.value }] }, /is tagged nebula-gateway:role=\(none\), not lighthouse/],
  ])('an instance %s: 403 not-in-fleet saying so, nothing written', async (_, overrides, detail) => {
    const id = nextInstance();
    ec2.on(DescribeInstancesCommand, { InstanceIds: [id] }).resolves(describes(id, 'lighthouse', overrides));
    const result = await attempt(register({ role: 'lighthouse', publicKey: newKey() }, { arn: sessionArn(id) }));
    expect(result).toEqual({ status: 403, problem: expect.objectContaining({ type: expect.stringMatching(/not-in-fleet$/), title: 'Forbidden' }), wrote: false });
    expect(result.problem.detail).toMatch(new RegExp(`^instance ${id} is not a lighthouse of this gateway: instance ${id} `));
    expect(result.problem.detail).toMatch(detail);
  });

  it('an instance EC2 does not know (empty answer, or InvalidInstanceID.NotFound): 403, nothing written', async () => {
    const id = nextInstance();
    ec2.on(DescribeInstancesCommand).resolves({ Reservations: [] });
    const empty = await attempt(register({ role: 'lighthouse', publicKey: newKey() }, { arn: sessionArn(id) }));
    expect(empty).toMatchObject({ status: 403, wrote: false });
    expect(empty.problem.detail).toContain(`instance ${id} does not exist`);
    // Another instance in the answer is not this one.
    ec2.on(DescribeInstancesCommand).resolves(describes('i-0fffffffffffffff0', 'lighthouse'));
    const other = await attempt(register({ role: 'lighthouse', publicKey: newKey() }, { arn: sessionArn(id) }));
    expect(other).toMatchObject({ status: 403, wrote: false });
    expect(other.problem.detail).toContain(`instance ${id} does not exist`);
    ec2.on(DescribeInstancesCommand).rejects(new EC2ServiceException({ name: 'InvalidInstanceID.NotFound', $fault: 'client', $metadata: {}, message: 'not found' }));
    const notFound = await attempt(register({ role: 'lighthouse', publicKey: newKey() }, { arn: sessionArn(id) }));
    expect(notFound).toMatchObject({ status: 403, wrote: false });
    expect(notFound.problem.detail).toContain(`instance ${id} does not exist`);
  });

  it('EC2 failing to answer is not a refusal of the instance: 503 naming the failure, nothing written', async () => {
    const id = nextInstance();
    ec2.on(DescribeInstancesCommand).rejects(new EC2ServiceException({ name: 'RequestLimitExceeded', $fault: 'client', $metadata: {}, message: 'Request limit exceeded.' }));
    const result = await attempt(register({ role: 'lighthouse', publicKey: newKey() }, { arn: sessionArn(id) }));
    expect(result).toMatchObject({ status: 503, wrote: false, problem: { type: expect.stringMatching(/node-verification-unavailable$/), title: 'Service unavailable' } });
    expect(result.problem.detail).toBe(`could not check instance ${id}: Request limit exceeded.`);
  });

  it('registering again (a reboot, a new key) renews the same host, in the same role', async () => {
    const id = nextInstance();
    const key = newKey();
    ec2.on(DescribeInstancesCommand, { InstanceIds: [id] }).resolves(describes(id, 'proxy'));
    const caller = { arn: sessionArn(id, 'GatewayProxyRole') };
    const first = JSON.parse((await api(register({ role: 'proxy', publicKey: key }, caller))).body as string);
    const sameKey = await api(register({ role: 'proxy', publicKey: key }, caller));
    expect(sameKey.status).toBe(200);
    const newKeyAnswer = await api(register({ role: 'proxy', publicKey: newKey() }, caller));
    expect(newKeyAnswer.status).toBe(200);
    for (const answer of [sameKey, newKeyAnswer]) expect(JSON.parse(answer.body as string).hostId).toBe(first.hostId);
    expect((await store.getHost(first.hostId))?.status).toBe('active');
  });

  it('an instance registering many times at once ends up with one host; a racing call is told to retry, never refused for good', async () => {
    const id = nextInstance();
    ec2.on(DescribeInstancesCommand, { InstanceIds: [id] }).resolves(describes(id, 'proxy'));
    // The production verifier, behind a barrier: every call passes EC2's check before any goes on,
    // so all of them race for the host (its name, the instance id) and then for its enrollment.
    const racers = 6;
    const released: (() => void)[] = [];
    const verifier = new Ec2NodeVerifier({ client: new EC2Client({}), networkTag: NETWORK_TAG, roleTagKey: ROLE_TAG });
    const barrier: NodeVerifier = {
      async verify(instanceId, role) {
        const answer = await verifier.verify(instanceId, role);
        await new Promise<void>((go) => {
          released.push(go);
          if (released.length === racers) for (const release of released) release();
        });
        return answer;
      },
    };
    const racing = createApi({ store, signer, nodeVerifier: barrier }, NODE_REGISTER_ROUTES);
    try {
      const caller = { arn: sessionArn(id, 'GatewayProxyRole') };
      const answers = await Promise.all(Array.from({ length: racers }, () => racing(register({ role: 'proxy', publicKey: newKey() }, caller))));
      const outcomes = answers.map((a) => (a.status === 200 ? 'ok' : `${a.status} ${JSON.parse(a.body as string).type.split(':').pop()}`));
      expect(outcomes.filter((o) => o !== 'ok' && o !== '409 concurrent-registration')).toEqual([]);
      expect(outcomes).toContain('ok');
      const hostIds = new Set(answers.filter((a) => a.status === 200).map((a) => JSON.parse(a.body as string).hostId));
      expect(hostIds.size).toBe(1);
      expect(await store.getHostIdForInstance(id)).toBe([...hostIds][0]);
    } finally {
      racing.close();
    }
  });

  it("a host of another kind already named like the instance: 409 name-taken naming instanceId, nothing written", async () => {
    const id = nextInstance();
    ec2.on(DescribeInstancesCommand, { InstanceIds: [id] }).resolves(describes(id, 'proxy'));
    await store.createHost({ host: { id: `h-named-${id}`, name: id, role: 'environment', groups: [] }, cidr: Ipv4Cidr.parse('10.60.0.0/24'), token: { hash: `t-${id}`, expiresAt: new Date(Date.now() + 3600_000) }, now: new Date() });
    const result = await attempt(register({ role: 'proxy', publicKey: newKey() }, { arn: sessionArn(id, 'GatewayProxyRole') }));
    expect(result).toMatchObject({ status: 409, wrote: false, problem: { type: expect.stringMatching(/name-taken$/), errors: [expect.objectContaining({ field: 'instanceId' })] } });
  });

  it('a gateway without a node verifier (local mode) answers 501, whoever asks', async () => {
    const local = createApi({ store, signer, adminTokenHash: hashSecret(ADMIN) }, NODE_REGISTER_ROUTES);
    try {
      const response = await local(register({ role: 'proxy', publicKey: newKey(), instanceId: nextInstance() }, undefined, ADMIN));
      expect(response.status).toBe(501);
      expect(JSON.parse(response.body as string)).toMatchObject({
        type: expect.stringMatching(/no-node-verifier$/),
        title: 'Not available',
        detail: 'node registration needs an EC2 node verifier, which this gateway does not have',
      });
    } finally {
      local.close();
    }
  });

  it('binds the IAM caller to the instance: a body naming another instance is refused before EC2 is asked', async () => {
    const caller = nextInstance();
    const other = nextInstance();
    // EC2 would vouch for both: only the binding can refuse.
    ec2.on(DescribeInstancesCommand, { InstanceIds: [caller] }).resolves(describes(caller, 'lighthouse'));
    ec2.on(DescribeInstancesCommand, { InstanceIds: [other] }).resolves(describes(other, 'lighthouse'));
    const result = await attempt(register({ role: 'lighthouse', publicKey: newKey(), instanceId: other }, { arn: sessionArn(caller) }));
    expect(result).toMatchObject({ status: 400, wrote: false });
    expect(result.problem.errors).toEqual([{ field: 'instanceId', message: "does not match the caller's IAM session" }]);
    expect(ec2.commandCalls(DescribeInstancesCommand)).toHaveLength(0);
    // The same instance id in the body as in the session is fine.
    const same = await api(register({ role: 'lighthouse', publicKey: newKey(), instanceId: caller }, { arn: sessionArn(caller) }));
    expect(same.status).toBe(200);
  });

  it.each([
    ['an IAM user', `arn:aws:iam::${ACCOUNT}:user/alice`],
    ['a role session not named for an instance', `arn:aws:sts::${ACCOUNT}:assumed-role/GatewayLighthouseRole/alice`],
    ['a session name that only starts like an instance id', `arn:aws:sts::${ACCOUNT}:assumed-role/GatewayLighthouseRole/i-0123456789abcdef0x`],
  ])('a caller that is %s: 401, EC2 never asked, nothing written', async (_, arn) => {
    ec2.on(DescribeInstancesCommand).resolves(describes('i-0123456789abcdef0', 'lighthouse'));
    const result = await attempt(register({ role: 'lighthouse', publicKey: newKey() }, { arn }));
    expect(result).toMatchObject({ status: 401, wrote: false });
    expect(result.problem.detail).toBe('the caller is not an EC2 instance role session (assumed-role/<role>/i-...)');
    expect(ec2.commandCalls(DescribeInstancesCommand)).toHaveLength(0);
  });

  it('without IAM, only the admin token may name an instance (local testing); anyone else is refused before EC2 is asked', async () => {
    const id = nextInstance();
    ec2.on(DescribeInstancesCommand, { InstanceIds: [id] }).resolves(describes(id, 'proxy'));
    const anonymous = await attempt(register({ role: 'proxy', publicKey: newKey(), instanceId: id }, undefined));
    expect(anonymous).toMatchObject({ status: 401, wrote: false });
    const forged = await attempt(register({ role: 'proxy', publicKey: newKey(), instanceId: id }, undefined, 'gwa_not-the-admin-token'));
    expect(forged).toMatchObject({ status: 401, wrote: false });
    expect(ec2.commandCalls(DescribeInstancesCommand)).toHaveLength(0);
    const missing = await attempt(register({ role: 'proxy', publicKey: newKey() }, undefined, ADMIN));
    expect(missing).toMatchObject({ status: 400, wrote: false });
    expect(missing.problem.errors).toEqual([{ field: 'instanceId', message: 'is required without IAM authentication' }]);
    const admin = await api(register({ role: 'proxy', publicKey: newKey(), instanceId: id }, undefined, ADMIN));
    expect(admin.status).toBe(200);
  });

  it('an instance registered as a lighthouse cannot come back as a proxy, even once EC2 tags it so: 409 role-mismatch', async () => {
    const id = nextInstance();
    ec2.on(DescribeInstancesCommand, { InstanceIds: [id] }).resolves(describes(id, 'lighthouse'));
    expect((await api(register({ role: 'lighthouse', publicKey: newKey() }, { arn: sessionArn(id) }))).status).toBe(200);
    ec2.on(DescribeInstancesCommand, { InstanceIds: [id] }).resolves(describes(id, 'proxy'));
    const result = await attempt(register({ role: 'proxy', publicKey: newKey() }, { arn: sessionArn(id, 'GatewayProxyRole') }));
    expect(result).toMatchObject({ status: 409, wrote: false, problem: { type: expect.stringMatching(/role-mismatch$/), errors: [expect.objectContaining({ field: 'role' })] } });
    expect(result.problem.detail).toBe(`instance ${id} is registered as a lighthouse`);
  });

  it('a public key another host holds: 409 naming publicKey', async () => {
    const first = nextInstance();
    const second = nextInstance();
    const key = newKey();
    ec2.on(DescribeInstancesCommand, { InstanceIds: [first] }).resolves(describes(first, 'proxy'));
    ec2.on(DescribeInstancesCommand, { InstanceIds: [second] }).resolves(describes(second, 'proxy'));
    expect((await api(register({ role: 'proxy', publicKey: key }, { arn: sessionArn(first, 'GatewayProxyRole') }))).status).toBe(200);
    const result = await api(register({ role: 'proxy', publicKey: key }, { arn: sessionArn(second, 'GatewayProxyRole') }));
    expect(result.status).toBe(409);
    expect(JSON.parse(result.body as string)).toMatchObject({ type: expect.stringMatching(/public-key-taken$/), errors: [expect.objectContaining({ field: 'publicKey' })] });
    expect(await store.getHostIdForInstance(second)).toBeUndefined();
  });

  it('a lighthouse without a public address registers without an endpoint; its listen port is the one it asked for', async () => {
    const bare = nextInstance();
    ec2.on(DescribeInstancesCommand, { InstanceIds: [bare] }).resolves(describes(bare, 'lighthouse', { PublicIpAddress: undefined }));
    const noAddress = JSON.parse((await api(register({ role: 'lighthouse', publicKey: newKey() }, { arn: sessionArn(bare) }))).body as string);
    expect((await store.getHost(noAddress.hostId))?.endpoints).toBeUndefined();
    const custom = nextInstance();
    ec2.on(DescribeInstancesCommand, { InstanceIds: [custom] }).resolves(describes(custom, 'lighthouse'));
    const withPort = JSON.parse((await api(register({ role: 'lighthouse', publicKey: newKey(), listenPort: 4343 }, { arn: sessionArn(custom) }))).body as string);
    expect((await store.getHost(withPort.hostId))?.endpoints).toEqual(['198.51.100.20:4343']);
  });
});
