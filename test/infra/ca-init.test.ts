import { applyCaRequest, CA_ROTATION_ADVICE, type CustomResourceEvent } from '../../lambda/ca-init';
import { generateEd25519KeyPair } from '../../src/pki/keys';
import { LocalSigner } from '../../src/pki/local-signer';
import { ensureTable, GatewayStore } from '../../src/store';
import { dropTable, testDynamoClient, uniqueTableName } from '../support/dynamodb';

// The CA custom resource against DynamoDB Local with a local key (no KMS needed for what is tested
// here: which requests it accepts once a network exists).
const dynamo = testDynamoClient();
const TABLE = uniqueTableName('ca-init');
const signer = new LocalSigner(generateEd25519KeyPair().privateKey);
const store = new GatewayStore({ client: dynamo, tableName: TABLE });

function event(type: CustomResourceEvent['RequestType'], props: Partial<CustomResourceEvent['ResourceProperties']> = {}): CustomResourceEvent {
  return {
    RequestType: type,
    ResponseURL: 'http://127.0.0.1:9/unused',
    StackId: 'arn:aws:cloudformation:eu-west-1:111122223333:stack/NebulaGateway-State/guid',
    RequestId: 'req',
    LogicalResourceId: 'NetworkCaRecord',
    PhysicalResourceId: type === 'Create' ? undefined : `nebula-ca:${TABLE}`,
    ResourceProperties: { TableName: TABLE, OverlayCidr: '100.100.0.0/16', CaName: 'NebulaGateway CA', CaLifetimeDays: '3650', ...props },
  };
}

beforeAll(async () => {
  await ensureTable(dynamo, TABLE);
});
afterAll(async () => {
  await dropTable(dynamo, TABLE);
  dynamo.destroy();
});

describe('ca-init: a changed CA name or lifetime is refused, not ignored', () => {
  let fingerprint: string | undefined;

  it('creates the CA once; the same properties again keep it', async () => {
    const created = await applyCaRequest(event('Create'), { store, signer, now: new Date('2026-01-01T00:00:00Z') });
    fingerprint = created.fingerprint;
    expect(fingerprint).toMatch(/^[0-9a-f]{64}$/);
    expect((await applyCaRequest(event('Update'), { store, signer })).fingerprint).toBe(fingerprint);
  });

  it('refuses a new lifetime, saying what the CA has and how to get another', async () => {
    const refused = applyCaRequest(event('Update', { CaLifetimeDays: '365' }), { store, signer });
    await expect(refused).rejects.toThrow("the network's CA was issued for 3650 days; it cannot change to 365");
    await expect(applyCaRequest(event('Update', { CaLifetimeDays: '365' }), { store, signer })).rejects.toThrow(CA_ROTATION_ADVICE);
  });

  it('refuses a new name', async () => {
    await expect(applyCaRequest(event('Update', { CaName: 'Renamed CA' }), { store, signer })).rejects.toThrow(
      "the network's CA is named 'NebulaGateway CA'; it cannot become 'Renamed CA'",
    );
  });

  it('a Create for a table that already holds a CA (the State stack recreated around a retained table) is held to the same rule', async () => {
    await expect(applyCaRequest(event('Create', { CaLifetimeDays: '7300' }), { store, signer })).rejects.toThrow(/cannot change to 7300/);
  });

  it('after refusals, the original properties (a CloudFormation rollback) still succeed with the same CA, which is unchanged', async () => {
    expect((await applyCaRequest(event('Update'), { store, signer })).fingerprint).toBe(fingerprint);
    expect((await store.getNetwork())!.caBundle).toContain('NEBULA CERTIFICATE');
  });
});
