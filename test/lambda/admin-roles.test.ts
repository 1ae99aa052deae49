import { DeleteTableCommand, DynamoDBClient, ScanCommand } from '@aws-sdk/client-dynamodb';
import type { RestApiEvent, RestApiResult } from '../../lambda/shared/apigw';
import { logger } from '../../lambda/shared/logger';
import { DEFAULT_NETWORK_POLICY } from '../../src/mesh/firewall';
import { createCA, generateEd25519KeyPair, LocalSigner } from '../../src/pki';
import { ensureTable, GatewayStore } from '../../src/store';
import { restApiEvent } from './support/events';

// The host-admin and node-register functions through their Lambda entry points, with API Gateway
// events carrying the IAM caller, against DynamoDB Local. Each function instance is loaded fresh
// (jest.isolateModules) because, as in Lambda, it reads GATEWAY_ADMIN_ROLE_ARNS once, at its cold start.
const TABLE = `lambda-admins-${Date.now().toString(36)}`;
const ACCOUNT = '111122223333';
const ADMIN_ROLES = `arn:aws:iam::${ACCOUNT}:role/platform/PlatformAdmin,arn:aws:iam::${ACCOUNT}:role/Ops`;
const session = (role: string, name = 'alice', account = ACCOUNT, partition = 'aws') => `arn:${partition}:sts::${account}:assumed-role/${role}/${name}`;

const dynamo = new DynamoDBClient({});
const itemCount = async () => (await dynamo.send(new ScanCommand({ TableName: TABLE, Select: 'COUNT', ConsistentRead: true }))).Count ?? 0;
const json = (result: RestApiResult) => JSON.parse(result.body) as Record<string, any>;

type Handler = (event: RestApiEvent) => Promise<RestApiResult>;

/** A cold start of `entry` with GATEWAY_ADMIN_ROLE_ARNS as given (undefined: unset). */
function coldStart(entry: 'host-admin' | 'node-register', adminRoleArns: string | undefined): Handler {
  if (adminRoleArns === undefined) delete process.env.GATEWAY_ADMIN_ROLE_ARNS;
  else process.env.GATEWAY_ADMIN_ROLE_ARNS = adminRoleArns;
  let handler: Handler | undefined;
  jest.isolateModules(() => {
    handler = (require(`../../lambda/${entry}`) as { handler: Handler }).handler;
  });
  return handler as Handler;
}

const createHost = (iamArn: string, name: string) => restApiEvent({ method: 'POST', resource: '/v1/hosts', body: { name, role: 'environment' }, iamArn });
const listHosts = (iamArn: string) => restApiEvent({ method: 'GET', resource: '/v1/hosts', iamArn });

beforeAll(async () => {
  Object.assign(process.env, {
    TABLE_NAME: TABLE,
    CERT_LIFETIME_HOURS: '24',
    LIGHTHOUSE_ROLE_NAME: 'NebulaGateway-lighthouse-node',
    PROXY_ROLE_NAME: 'NebulaGateway-proxy-node',
    FLEET_TAG_NETWORK: 'nebula-gateway:network=NebulaGateway',
    FLEET_TAG_ROLE: 'nebula-gateway:role',
  });
  logger.setLogLevel('SILENT');
  await ensureTable(dynamo, TABLE);
  const ca = await createCA({ signer: new LocalSigner(generateEd25519KeyPair().privateKey), name: 'admins test CA', duration: '8760h' });
  await new GatewayStore({ client: dynamo, tableName: TABLE }).initNetwork({
    cidr: '100.100.0.0/16',
    caBundle: ca.toPem(),
    policy: { ...DEFAULT_NETWORK_POLICY },
    createdAt: new Date().toISOString(),
  });
});

afterAll(async () => {
  delete process.env.GATEWAY_ADMIN_ROLE_ARNS;
  await dynamo.send(new DeleteTableCommand({ TableName: TABLE }));
  dynamo.destroy();
});

describe('host-admin: only the named admin roles are admins', () => {
  test('a session of a configured role (one configured with a path, one without) is admin', async () => {
    const handler = coldStart('host-admin', ADMIN_ROLES);
    const created = await handler(createHost(session('PlatformAdmin'), 'by-platform-admin'));
    expect(created.statusCode).toBe(201);
    expect(json(created).host).toMatchObject({ name: 'by-platform-admin', role: 'environment' });
    expect(json(created).enrollment.token).toMatch(/^gwe_/);
    const listed = await handler(listHosts(session('Ops', 'bob')));
    expect(listed.statusCode).toBe(200);
    expect(json(listed).hosts.map((h: { name: string }) => h.name)).toContain('by-platform-admin');
  });

  test('any other IAM caller gets 403 problem+json and writes nothing', async () => {
    const handler = coldStart('host-admin', ADMIN_ROLES);
    const before = await itemCount();
    const callers = [
      session('Developer'),
      session('PlatformAdmin', 'alice', '444455556666'),
      session('PlatformAdmin', 'alice', ACCOUNT, 'aws-cn'),
      session('NebulaGateway-lighthouse-node', 'i-0123456789abcdef0'),
      `arn:aws:iam::${ACCOUNT}:user/PlatformAdmin`,
    ];
    for (const caller of callers) {
      const refused = await handler(createHost(caller, 'refused'));
      expect({ caller, status: refused.statusCode }).toEqual({ caller, status: 403 });
      expect(refused.headers['content-type']).toBe('application/problem+json');
      expect(json(refused)).toMatchObject({ status: 403, title: 'Forbidden', detail: `${caller} is not one of the gateway's admin roles or a session of one` });
      expect((await handler(listHosts(caller))).statusCode).toBe(403);
    }
    expect(await itemCount()).toBe(before);
  });

  test('with GATEWAY_ADMIN_ROLE_ARNS unset or empty, no IAM caller is admin', async () => {
    for (const setting of [undefined, '']) {
      const handler = coldStart('host-admin', setting);
      const refused = await handler(createHost(session('PlatformAdmin'), 'refused'));
      expect(refused.statusCode).toBe(403);
      expect(json(refused).detail).toContain('is not one of the gateway');
    }
  });

  test('a malformed GATEWAY_ADMIN_ROLE_ARNS fails the function (no request is served) naming the variable', async () => {
    const handler = coldStart('host-admin', `arn:aws:iam::${ACCOUNT}:role/*`);
    await expect(handler(listHosts(session('PlatformAdmin')))).rejects.toThrow(`GATEWAY_ADMIN_ROLE_ARNS: 'arn:aws:iam::${ACCOUNT}:role/*' is not an IAM role ARN`);
  });
});

describe('node-register keeps its own check', () => {
  test('an admin role session cannot register a node; the fleet role check is unchanged', async () => {
    const handler = coldStart('node-register', ADMIN_ROLES);
    const refused = await handler(
      restApiEvent({ method: 'POST', resource: '/v1/nodes/register', body: { role: 'lighthouse', publicKey: 'x' }, iamArn: session('PlatformAdmin', 'i-0123456789abcdef0') }),
    );
    expect(refused.statusCode).toBe(403);
    expect(json(refused).detail).toBe('the caller is not a lighthouse, proxy or egress instance role');
  });
});
