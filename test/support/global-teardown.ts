import type { DynamoDbLocal } from '../../src/server/dynamodb-local';

export default async function globalTeardown(): Promise<void> {
  await (globalThis as { __dynamoDbLocal?: DynamoDbLocal }).__dynamoDbLocal?.stop();
}
