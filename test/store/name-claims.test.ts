/**
 * Host name claims in the table: written with the host, released by its revocation only when the
 * claim is that host's. A host stored before names were claimed (no claim item) can still be
 * revoked, and its revocation leaves another host's claim of the same name alone.
 */
import { DeleteItemCommand } from '@aws-sdk/client-dynamodb';
import { scanAll, testDynamoClient } from '../support/dynamodb';
import { apiClient, startTestGateway, type TestGateway } from '../support/gateway';

describe('host name claims', () => {
  let gw: TestGateway;
  let call: ReturnType<typeof apiClient>;
  const client = testDynamoClient();

  beforeAll(async () => {
    gw = await startTestGateway();
    call = apiClient(gw.url);
  });
  afterAll(async () => {
    await gw?.close();
    client.destroy();
  });

  const claims = async () => (await scanAll(client, gw.tableName)).filter((i) => String(i.pk).startsWith('NAME#')).map((i) => [i.pk, i.hostId]);
  const create = (name: string) => call('POST', '/v1/hosts', { token: gw.adminToken, body: { name, role: 'environment' } });

  test('a claim per host, lowercased key; revocation releases only its own claim', async () => {
    const legacy = (await create('Legacy')).body.host.id;
    expect(await claims()).toEqual([['NAME#legacy', legacy]]);
    // As if stored before names were claimed.
    await client.send(new DeleteItemCommand({ TableName: gw.tableName, Key: { pk: { S: 'NAME#legacy' }, sk: { S: 'NAME' } } }));
    const newer = await create('legacy');
    expect(newer.status).toBe(201);
    expect(await claims()).toEqual([['NAME#legacy', newer.body.host.id]]);
    expect((await call('DELETE', `/v1/hosts/${legacy}`, { token: gw.adminToken })).status).toBe(200);
    expect(await claims()).toEqual([['NAME#legacy', newer.body.host.id]]);
    expect((await create('LEGACY')).status).toBe(409);
    expect((await call('DELETE', `/v1/hosts/${newer.body.host.id}`, { token: gw.adminToken })).status).toBe(200);
    expect(await claims()).toEqual([]);
    expect((await create('LEGACY')).status).toBe(201);
  });
});
