import { DeleteTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { main } from '../../lambda/ecs-server';
import { logger } from '../../lambda/shared/logger';
import { DEFAULT_NETWORK_POLICY } from '../../src/mesh';
import { createCA, generateEd25519KeyPair, LocalSigner } from '../../src/pki';
import { ensureTable, GatewayStore } from '../../src/store';

// The ECS container's entry: the API over src/server's HTTP server with the AWS dependencies from
// the environment, against DynamoDB Local. No request here signs, so no KMS mock is needed; the
// KMS endpoint is the closed port test/support sets, and nothing may reach it.
const TABLE = `ecs-${Date.now().toString(36)}`;
const dynamo = new DynamoDBClient({});

describe('ECS gateway server (lambda/ecs-server.ts)', () => {
  let running: ReturnType<typeof main>;
  let base: string;

  beforeAll(async () => {
    logger.setLogLevel('SILENT');
    await ensureTable(dynamo, TABLE);
    const ca = await createCA({ signer: new LocalSigner(generateEd25519KeyPair().privateKey), name: 'ecs test CA', duration: '24h' });
    await new GatewayStore({ client: dynamo, tableName: TABLE }).initNetwork({
      cidr: '100.100.0.0/16',
      caBundle: ca.toPem(),
      policy: { ...DEFAULT_NETWORK_POLICY },
      createdAt: new Date().toISOString(),
    });
    running = main({
      ...process.env,
      PORT: '0',
      HOST: '127.0.0.1',
      TABLE_NAME: TABLE,
      CA_KEY_BACKEND: 'kms',
      CA_KEY_ARN: 'arn:aws:kms:us-east-1:111122223333:key/never-called',
    });
    base = `http://127.0.0.1:${await running.listening}`;
  });

  afterAll(async () => {
    await running?.stop();
    await dynamo.send(new DeleteTableCommand({ TableName: TABLE }));
    dynamo.destroy();
  });

  it('serves the API from the table: health, network, refusals as problems', async () => {
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    const network = await fetch(`${base}/v1/network`);
    expect(network.status).toBe(200);
    expect(await network.json()).toMatchObject({ cidr: '100.100.0.0/16' });
    const admin = await fetch(`${base}/v1/hosts`, { method: 'POST', body: JSON.stringify({ name: 'x', role: 'environment' }) });
    expect(admin.status).toBe(401);
    const enroll = await fetch(`${base}/v1/enroll`, { method: 'POST', body: '{"token":' });
    expect(enroll.status).toBe(400);
    expect(enroll.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  });
});
