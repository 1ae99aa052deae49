import { startDynamoDbLocal } from '../../src/server/dynamodb-local';
import { applyTestEnvironment } from './aws-env';

/**
 * One DynamoDB Local for the whole run, in memory, on a free port. Its endpoint reaches every test
 * worker through the environment (workers inherit it). Tests create their own uniquely named tables.
 */
export default async function globalSetup(): Promise<void> {
  applyTestEnvironment();
  const ddb = await startDynamoDbLocal();
  process.env.AWS_ENDPOINT_URL_DYNAMODB = ddb.endpoint;
  (globalThis as { __dynamoDbLocal?: typeof ddb }).__dynamoDbLocal = ddb;
}
