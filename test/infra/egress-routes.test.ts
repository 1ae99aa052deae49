import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { applyEgressRoutesRequest, EgressRoutesError, type EgressRoutesEvent, handler } from '../../lambda/egress-routes';
import { DEFAULT_NETWORK_POLICY } from '../../src/mesh/firewall';
import { ensureTable, GatewayStore } from '../../src/store';
import { dropTable, testDynamoClient, uniqueTableName } from '../support/dynamodb';

// The egress routes custom resource against DynamoDB Local (the network record as the CA custom
// resource leaves it), and its response to CloudFormation through a real HTTP server on loopback.
const dynamo = testDynamoClient();
const TABLE = uniqueTableName('egress-routes');
const store = new GatewayStore({ client: dynamo, tableName: TABLE });

function event(type: EgressRoutesEvent['RequestType'], routes: readonly unknown[], responseUrl = 'http://127.0.0.1:9/unused', table = TABLE): EgressRoutesEvent {
  return {
    RequestType: type,
    ResponseURL: responseUrl,
    StackId: 'arn:aws:cloudformation:eu-west-1:111122223333:stack/NebulaGateway-Fleets/guid',
    RequestId: 'req',
    LogicalResourceId: 'EgressRoutesRecord',
    PhysicalResourceId: type === 'Create' ? undefined : `nebula-egress-routes:${table}`,
    ResourceProperties: { TableName: table, Routes: routes as string[] },
  };
}

beforeAll(async () => {
  await ensureTable(dynamo, TABLE);
});
afterAll(async () => {
  await dropTable(dynamo, TABLE);
  dynamo.destroy();
});

describe('egress routes custom resource', () => {
  it('refuses to run before the network record exists, naming the stack that creates it', async () => {
    await expect(applyEgressRoutesRequest(event('Create', ['10.40.0.0/16']), store)).rejects.toThrow(/no network record yet: the State stack's CA custom resource creates it/);
  });

  it('Create: writes the routes (canonical, sorted) and moves the config version once', async () => {
    await store.initNetwork({ cidr: '100.100.0.0/16', caBundle: 'ca', policy: { ...DEFAULT_NETWORK_POLICY }, createdAt: '2026-01-01T00:00:00.000Z' });
    const before = await store.getConfigVersion();
    const result = await applyEgressRoutesRequest(event('Create', ['10.40.0.0/16', '10.50.0.0/16', '172.20.0.0/20']), store);
    expect(result).toEqual({ physicalResourceId: `nebula-egress-routes:${TABLE}` });
    expect((await store.getNetwork())!.egressRoutes).toEqual(['10.40.0.0/16', '10.50.0.0/16', '172.20.0.0/20']);
    expect(await store.getConfigVersion()).toBe(before + 1);
  });

  it('Update with the same routes writes nothing (the version stays); with other routes replaces them', async () => {
    const version = await store.getConfigVersion();
    await applyEgressRoutesRequest(event('Update', ['172.20.0.0/20', '10.40.0.0/16', '10.50.0.0/16']), store);
    expect(await store.getConfigVersion()).toBe(version);
    await applyEgressRoutesRequest(event('Update', ['10.40.0.0/16']), store);
    expect((await store.getNetwork())!.egressRoutes).toEqual(['10.40.0.0/16']);
    expect(await store.getConfigVersion()).toBe(version + 1);
  });

  it.each([
    [['100.100.8.0/24'], /gateway\.egress: Routes\[0\]: '100\.100\.8\.0\/24' overlaps the overlay network 100\.100\.0\.0\/16/],
    [['10.40.0.0/16', '0.0.0.0/0'], /gateway\.egress: Routes\[1\]: '0\.0\.0\.0\/0' is wider than \/8/],
    [['10.40.0.0/16', '127.0.0.0/8'], /gateway\.egress: Routes\[1\]: .*loopback/],
    [['not-a-cidr'], /gateway\.egress: Routes\[0\]/],
  ])('refuses %j naming the route, and writes nothing', async (routes, message) => {
    const version = await store.getConfigVersion();
    const refused = applyEgressRoutesRequest(event('Update', routes), store);
    await expect(refused).rejects.toThrow(EgressRoutesError);
    await expect(applyEgressRoutesRequest(event('Update', routes), store)).rejects.toThrow(message);
    expect((await store.getNetwork())!.egressRoutes).toEqual(['10.40.0.0/16']);
    expect(await store.getConfigVersion()).toBe(version);
  });

  it('Delete leaves routes an admin changed since; clears its own', async () => {
    await store.setEgressRoutes(['10.40.0.0/16', '192.168.0.0/16']);
    await applyEgressRoutesRequest(event('Delete', ['10.40.0.0/16']), store);
    expect((await store.getNetwork())!.egressRoutes).toEqual(['10.40.0.0/16', '192.168.0.0/16']);
    await applyEgressRoutesRequest(event('Delete', ['192.168.0.0/16', '10.40.0.0/16']), store);
    expect((await store.getNetwork())!.egressRoutes).toEqual([]);
  });

  it('Delete never fails, even with routes that were never valid or a table that is gone', async () => {
    await expect(applyEgressRoutesRequest(event('Delete', ['0.0.0.0/0']), store)).resolves.toEqual({ physicalResourceId: `nebula-egress-routes:${TABLE}` });
    const gone = new GatewayStore({ client: dynamo, tableName: uniqueTableName('egress-routes-gone') });
    await expect(applyEgressRoutesRequest(event('Delete', ['10.40.0.0/16'], undefined, 'gone'), gone)).resolves.toEqual({ physicalResourceId: 'nebula-egress-routes:gone' });
  });
});

describe('egress routes handler: the answer CloudFormation gets (HTTP PUT on loopback)', () => {
  let server: Server;
  let url: string;
  const received: { method?: string; body: Record<string, unknown> }[] = [];

  beforeAll(async () => {
    server = createServer((req: IncomingMessage, res) => {
      let text = '';
      req.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')));
      req.on('end', () => {
        received.push({ method: req.method, body: JSON.parse(text) as Record<string, unknown> });
        res.end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/response`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('SUCCESS with the fixed physical id; FAILED with the reason naming the route', async () => {
    await handler(event('Update', ['10.40.0.0/16', '10.60.0.0/16'], url));
    await handler(event('Update', ['100.100.0.0/24'], url));
    expect(received.map((r) => r.method)).toEqual(['PUT', 'PUT']);
    expect(received[0].body).toMatchObject({ Status: 'SUCCESS', PhysicalResourceId: `nebula-egress-routes:${TABLE}`, RequestId: 'req', LogicalResourceId: 'EgressRoutesRecord' });
    expect(received[1].body).toMatchObject({ Status: 'FAILED', Reason: expect.stringMatching(/^gateway\.egress: Routes\[0\]: '100\.100\.0\.0\/24' overlaps the overlay/) });
    expect((await store.getNetwork())!.egressRoutes).toEqual(['10.40.0.0/16', '10.60.0.0/16']);
  });
});
