import { AutoScalingClient, CompleteLifecycleActionCommand } from '@aws-sdk/client-auto-scaling';
import { mockClient } from 'aws-sdk-client-mock';
import { parse } from 'yaml';
import { handler, LifecycleEventError, TERMINATE_DETAIL_TYPE } from '../../lambda/node-lifecycle';
import { logger } from '../../lambda/shared/logger';
import { NodeVerificationError } from '../../src/api/ec2-node-verifier';
import { encodeX25519PublicKeyPem, generateX25519KeyPair } from '../../src/pki';
import { scanAll, testDynamoClient } from '../support/dynamodb';
import { apiClient, startTestGateway, type TestGateway } from '../support/gateway';

// The node lifecycle function against a real local gateway's table in DynamoDB Local: nodes
// register through the real API, the function revokes them, configs and GET /v1/network are read
// back over HTTP. Auto Scaling has no local implementation, so its client is mocked with
// aws-sdk-client-mock (CompleteLifecycleAction only).
const autoScaling = mockClient(AutoScalingClient);
const LIGHTHOUSE_A = 'i-0aaaaaaaaaaaaaaa1';
const LIGHTHOUSE_B = 'i-0bbbbbbbbbbbbbbb2';
const PROXY = 'i-0ccccccccccccccc3';
const fleet = new Map<string, { role: 'lighthouse' | 'proxy'; publicIp: string }>([
  [LIGHTHOUSE_A, { role: 'lighthouse', publicIp: '198.18.0.1' }],
  [LIGHTHOUSE_B, { role: 'lighthouse', publicIp: '198.18.0.2' }],
  [PROXY, { role: 'proxy', publicIp: '198.18.0.3' }],
]);

const terminating = (instanceId: string, detail: Record<string, unknown> = {}) => ({
  version: '0',
  id: 'f3c7e2a1-0000-4000-8000-000000000000',
  'detail-type': TERMINATE_DETAIL_TYPE,
  source: 'aws.autoscaling',
  account: '111122223333',
  time: '2026-12-02T10:00:00Z',
  region: 'us-east-1',
  resources: ['arn:aws:autoscaling:us-east-1:111122223333:autoScalingGroup:guid:autoScalingGroupName/NebulaGateway-lighthouses'],
  detail: {
    LifecycleActionToken: '87654321-4321-4321-4321-210987654321',
    AutoScalingGroupName: 'NebulaGateway-lighthouses',
    LifecycleHookName: 'NebulaGateway-revoke',
    EC2InstanceId: instanceId,
    LifecycleTransition: 'autoscaling:EC2_INSTANCE_TERMINATING',
    Origin: 'AutoScalingGroup',
    Destination: 'EC2',
    ...detail,
  },
});

const publicKey = () => encodeX25519PublicKeyPem(generateX25519KeyPair().publicKey);
/** Reads until `done` holds (other processes' changes reach the gateway within its version poll); the deadline only bounds the wait. */
async function settled<T>(read: () => Promise<T>, done: (value: T) => boolean): Promise<T> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const value = await read();
    if (done(value) || Date.now() > deadline) return value;
    await new Promise((r) => setTimeout(r, 100));
  }
}

const lighthouseHosts = (config: string): string[] => (parse(config) as { lighthouse: { hosts?: string[] } }).lighthouse.hosts ?? [];

describe('node-lifecycle: a terminating fleet instance is revoked and its lifecycle action completed', () => {
  let gw: TestGateway;
  let call: ReturnType<typeof apiClient>;
  const hostOf = async (instanceId: string) => (await gw.store.getHostIdForInstance(instanceId)) as string;

  beforeAll(async () => {
    logger.setLogLevel('SILENT');
    gw = await startTestGateway({
      nodeVerifier: {
        async verify(instanceId, role) {
          const node = fleet.get(instanceId);
          if (node?.role !== role) throw new NodeVerificationError('not in the fleet');
          return { publicIp: node.publicIp, privateIp: '10.0.0.9' };
        },
      },
    });
    call = apiClient(gw.url);
    process.env.TABLE_NAME = gw.tableName;
    for (const [instanceId, node] of fleet) {
      const registered = await call('POST', '/v1/nodes/register', { token: gw.adminToken, body: { role: node.role, publicKey: publicKey(), instanceId } });
      expect(registered.status).toBe(200);
    }
  });

  afterAll(async () => {
    await gw?.close();
    autoScaling.restore();
  });

  beforeEach(() => {
    autoScaling.reset();
    autoScaling.on(CompleteLifecycleActionCommand).resolves({});
  });

  test('a terminated lighthouse leaves the next config and GET /v1/network; the other stays', async () => {
    const created = await call('POST', '/v1/hosts', { token: gw.adminToken, body: { name: 'dev1', role: 'environment' } });
    const env = created.body.host.id as string;
    const enrolled = await call('POST', '/v1/enroll', { body: { token: created.body.enrollment.token, publicKey: publicKey() } });
    expect(enrolled.status).toBe(200);
    const credential = enrolled.body.credential as string;
    const [a, b] = [await hostOf(LIGHTHOUSE_A), await hostOf(LIGHTHOUSE_B)];
    const ipOf = async (id: string) => (await call('GET', `/v1/hosts/${id}`, { token: gw.adminToken })).body.host.ip as string;
    const [ipA, ipB] = [await ipOf(a), await ipOf(b)];
    const before = await call('GET', `/v1/hosts/${env}/config`, { token: credential });
    expect(lighthouseHosts(before.body.config).sort()).toEqual([ipA, ipB].sort());

    const outcome = await handler(terminating(LIGHTHOUSE_A));
    expect(outcome).toEqual({ instanceId: LIGHTHOUSE_A, hostId: a, completed: true });
    expect(autoScaling.commandCalls(CompleteLifecycleActionCommand).map((c) => c.args[0].input)).toEqual([
      {
        AutoScalingGroupName: 'NebulaGateway-lighthouses',
        LifecycleHookName: 'NebulaGateway-revoke',
        LifecycleActionToken: '87654321-4321-4321-4321-210987654321',
        InstanceId: LIGHTHOUSE_A,
        LifecycleActionResult: 'CONTINUE',
      },
    ]);

    // The gateway learns of the other process's revocation through the config version: the long-poll returns the new config.
    const after = await call('GET', `/v1/hosts/${env}/config?wait=20`, { token: credential, headers: { 'if-none-match': before.headers.get('etag') as string } });
    expect(after.status).toBe(200);
    expect(lighthouseHosts(after.body.config)).toEqual([ipB]);
    const network = await settled(() => call('GET', '/v1/network'), (r) => r.body.lighthouses.length === 1);
    expect(network.body.lighthouses.map((l: { hostId: string }) => l.hostId)).toEqual([b]);
    expect((await call('GET', `/v1/hosts/${a}`, { token: gw.adminToken })).body.host.status).toBe('revoked');
    expect((await call('GET', `/v1/hosts/${b}`, { token: gw.adminToken })).body.host.status).toBe('active');
  });

  test('a terminated proxy is revoked like DELETE /v1/hosts/{id}: its certificate is blocklisted', async () => {
    const proxy = await hostOf(PROXY);
    const outcome = await handler(terminating(PROXY, { AutoScalingGroupName: 'NebulaGateway-proxies' }));
    expect(outcome).toEqual({ instanceId: PROXY, hostId: proxy, completed: true });
    const items = await scanAll(testDynamoClient(), gw.tableName);
    const host = items.find((i) => i.pk === `HOST#${proxy}` && i.sk === 'HOST') as Record<string, unknown>;
    expect(host.status).toBe('revoked');
    expect(items.some((i) => i.pk === 'REVOKED' && i.fingerprint === host.certificateFingerprint)).toBe(true);
    expect(items.some((i) => i.pk === `INSTANCE#${PROXY}`)).toBe(false);
    expect(autoScaling.commandCalls(CompleteLifecycleActionCommand)[0].args[0].input).toMatchObject({ AutoScalingGroupName: 'NebulaGateway-proxies', InstanceId: PROXY });
  });

  test('a retried event for a revoked host completes the action again and changes nothing', async () => {
    const b = await hostOf(LIGHTHOUSE_B);
    await handler(terminating(LIGHTHOUSE_B));
    const items = await scanAll(testDynamoClient(), gw.tableName);
    const outcome = await handler(terminating(LIGHTHOUSE_B));
    expect(outcome).toEqual({ instanceId: LIGHTHOUSE_B, completed: true });
    expect(await scanAll(testDynamoClient(), gw.tableName)).toEqual(items);
    expect(autoScaling.commandCalls(CompleteLifecycleActionCommand)).toHaveLength(2);
    expect((await call('GET', `/v1/hosts/${b}`, { token: gw.adminToken })).body.host.status).toBe('revoked');
    const network = await settled(() => call('GET', '/v1/network'), (r) => r.body.lighthouses.length === 0);
    expect(network.body.lighthouses).toEqual([]);
  });

  test('an action Auto Scaling already closed is not an error; an unknown instance still completes its action', async () => {
    autoScaling.on(CompleteLifecycleActionCommand).rejects(Object.assign(new Error('No active Lifecycle Action found with instance ID i-0bbbbbbbbbbbbbbb2'), { name: 'ValidationError' }));
    expect(await handler(terminating(LIGHTHOUSE_B))).toEqual({ instanceId: LIGHTHOUSE_B, completed: false });
    autoScaling.on(CompleteLifecycleActionCommand).resolves({});
    expect(await handler(terminating('i-0123456789abcdef9'))).toEqual({ instanceId: 'i-0123456789abcdef9', completed: true });
    expect(autoScaling.commandCalls(CompleteLifecycleActionCommand).map((c) => c.args[0].input.InstanceId)).toEqual([LIGHTHOUSE_B, 'i-0123456789abcdef9']);
  });

  test('any other Auto Scaling failure fails the invocation (EventBridge retries it)', async () => {
    autoScaling.on(CompleteLifecycleActionCommand).rejects(Object.assign(new Error('Rate exceeded'), { name: 'Throttling' }));
    await expect(handler(terminating('i-0123456789abcdef9'))).rejects.toThrow('Rate exceeded');
  });

  test('a malformed event is refused naming the field, before any write or Auto Scaling call', async () => {
    const items = await scanAll(testDynamoClient(), gw.tableName);
    const cases: [unknown, RegExp][] = [
      [{ ...terminating(LIGHTHOUSE_A), source: 'aws.ec2' }, /source/],
      [{ ...terminating(LIGHTHOUSE_A), 'detail-type': 'EC2 Instance Launch Successful' }, /detail-type/],
      [terminating(LIGHTHOUSE_A, { LifecycleActionToken: undefined }), /detail\.LifecycleActionToken/],
      [terminating(LIGHTHOUSE_A, { LifecycleHookName: '' }), /detail\.LifecycleHookName/],
      [terminating('../HOST#x'), /detail\.EC2InstanceId/],
      [null, /source/],
    ];
    for (const [event, field] of cases) {
      const failure = handler(event);
      await expect(failure).rejects.toThrow(LifecycleEventError);
      await expect(failure).rejects.toThrow(field);
    }
    expect(autoScaling.commandCalls(CompleteLifecycleActionCommand)).toHaveLength(0);
    expect(await scanAll(testDynamoClient(), gw.tableName)).toEqual(items);
  });
});
