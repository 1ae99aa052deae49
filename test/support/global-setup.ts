import { startDynamoDbLocal } from '../../src/server/dynamodb-local';
import { applyTestEnvironment } from './aws-env';

/**
 * One DynamoDB Local for the whole run, in memory, on a free port. Its endpoint reaches every test
 * worker through the environment (workers inherit it). Tests create their own uniquely named tables.
 */
export default async function globalSetup(): Promise<void> {
  applyTestEnvironment();
  // `npm run mutate` starts one DynamoDB Local for the many jest runs Stryker makes (each runs this).
  const shared = process.env.GATEWAY_TEST_DYNAMODB_ENDPOINT;
  if (shared) {
    if (new URL(shared).hostname !== '127.0.0.1') throw new Error(`GATEWAY_TEST_DYNAMODB_ENDPOINT must be on 127.0.0.1, not ${shared}`);
    process.env.AWS_ENDPOINT_URL_DYNAMODB = shared;
    return;
  }
  const ddb = await startDynamoDbLocal();
  process.env.AWS_ENDPOINT_URL_DYNAMODB = ddb.endpoint;
  (globalThis as { __dynamoDbLocal?: typeof ddb }).__dynamoDbLocal = ddb;
}
