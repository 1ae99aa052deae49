import { DynamoDBClient, DeleteTableCommand, ScanCommand } from '@aws-sdk/client-dynamodb';
import { randomBytes } from 'node:crypto';

/** The DynamoDB Local that jest's globalSetup started (tests never reach AWS). */
export function dynamoDbEndpoint(): string {
  const endpoint = process.env.AWS_ENDPOINT_URL_DYNAMODB;
  if (!endpoint) throw new Error('AWS_ENDPOINT_URL_DYNAMODB is not set: run the tests through jest (globalSetup starts DynamoDB Local)');
  return endpoint;
}

export function testDynamoClient(): DynamoDBClient {
  return new DynamoDBClient({ endpoint: dynamoDbEndpoint() });
}

/** A table name no other test file uses. */
export function uniqueTableName(prefix: string): string {
  return `${prefix}-${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`;
}

/** Every item of a table, for assertions (tests may Scan; the gateway never does on a request path). */
export async function scanAll(client: DynamoDBClient, tableName: string): Promise<Record<string, unknown>[]> {
  const items: Record<string, unknown>[] = [];
  let start: Record<string, never> | undefined;
  do {
    const page = await client.send(new ScanCommand({ TableName: tableName, ExclusiveStartKey: start, ConsistentRead: true }));
    for (const item of page.Items ?? []) {
      const plain: Record<string, unknown> = {};
      for (const [key, value] of Object.entries(item)) plain[key] = Object.values(value)[0];
      items.push(plain);
    }
    start = page.LastEvaluatedKey as Record<string, never> | undefined;
  } while (start);
  return items;
}

export async function dropTable(client: DynamoDBClient, tableName: string): Promise<void> {
  await client.send(new DeleteTableCommand({ TableName: tableName })).catch(() => undefined);
}
