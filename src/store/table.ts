import {
  CreateTableCommand,
  DescribeTableCommand,
  type DynamoDBClient,
  ResourceInUseException,
  ResourceNotFoundException,
  UpdateTimeToLiveCommand,
  waitUntilTableExists,
} from '@aws-sdk/client-dynamodb';
import { TABLE_SCHEMA } from './schema';

/**
 * Creates the table from TABLE_SCHEMA (local mode and tests; in AWS the CDK stack does this)
 * and turns TTL on. Does nothing to a table that already exists.
 */
export async function ensureTable(client: DynamoDBClient, tableName: string): Promise<'created' | 'existed'> {
  if (await tableExists(client, tableName)) return 'existed';
  const gsi = TABLE_SCHEMA.globalSecondaryIndexes;
  const attributes = new Map<string, string>([
    [TABLE_SCHEMA.partitionKey.name, TABLE_SCHEMA.partitionKey.type],
    [TABLE_SCHEMA.sortKey.name, TABLE_SCHEMA.sortKey.type],
    ...gsi.flatMap((i) => [
      [i.partitionKey.name, i.partitionKey.type] as [string, string],
      [i.sortKey.name, i.sortKey.type] as [string, string],
    ]),
  ]);
  try {
    await client.send(
      new CreateTableCommand({
        TableName: tableName,
        BillingMode: TABLE_SCHEMA.billingMode,
        AttributeDefinitions: [...attributes].map(([AttributeName, AttributeType]) => ({
          AttributeName,
          AttributeType: AttributeType as 'S',
        })),
        KeySchema: [
          { AttributeName: TABLE_SCHEMA.partitionKey.name, KeyType: 'HASH' },
          { AttributeName: TABLE_SCHEMA.sortKey.name, KeyType: 'RANGE' },
        ],
        GlobalSecondaryIndexes: gsi.map((i) => ({
          IndexName: i.indexName,
          KeySchema: [
            { AttributeName: i.partitionKey.name, KeyType: 'HASH' },
            { AttributeName: i.sortKey.name, KeyType: 'RANGE' },
          ],
          Projection: { ProjectionType: i.projectionType },
        })),
      }),
    );
  } catch (err) {
    if (!(err instanceof ResourceInUseException)) throw err;
  }
  await waitUntilTableExists({ client, maxWaitTime: 60 }, { TableName: tableName });
  await client.send(
    new UpdateTimeToLiveCommand({
      TableName: tableName,
      TimeToLiveSpecification: { AttributeName: TABLE_SCHEMA.timeToLiveAttribute, Enabled: true },
    }),
  );
  return 'created';
}

async function tableExists(client: DynamoDBClient, tableName: string): Promise<boolean> {
  try {
    await client.send(new DescribeTableCommand({ TableName: tableName }));
    return true;
  } catch (err) {
    if (err instanceof ResourceNotFoundException) return false;
    throw err;
  }
}
