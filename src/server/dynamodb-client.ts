import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { fromIni } from '@aws-sdk/credential-providers';

/**
 * Region and credentials for a DynamoDB that only this machine's gateway uses. DynamoDB Local
 * checks neither, but keeps one database per access key and region: fixed values find the same
 * data again on every start.
 */
export const LOCAL_DYNAMODB_REGION = 'us-east-1';
export const LOCAL_DYNAMODB_CREDENTIALS = { accessKeyId: 'gatewaylocal', secretAccessKey: 'gatewaylocal' } as const;

/** Environment variables by which a user chooses AWS credentials; any of them set means "the SDK's chain, untouched". */
const CREDENTIAL_VARIABLES = [
  'AWS_ACCESS_KEY_ID',
  'AWS_SECRET_ACCESS_KEY',
  'AWS_PROFILE',
  'AWS_WEB_IDENTITY_TOKEN_FILE',
  'AWS_CONTAINER_CREDENTIALS_RELATIVE_URI',
  'AWS_CONTAINER_CREDENTIALS_FULL_URI',
] as const;

/** A client for the embedded DynamoDB Local: the local region and credentials, always. */
export function embeddedDynamoDbClient(endpoint: string): DynamoDBClient {
  return new DynamoDBClient({ endpoint, region: LOCAL_DYNAMODB_REGION, credentials: LOCAL_DYNAMODB_CREDENTIALS });
}

/**
 * A client for `--dynamodb-endpoint URL`. What the user configured wins: a region from AWS_REGION,
 * AWS_DEFAULT_REGION or the profile; credentials from the environment or a profile in the shared
 * files. Only what is not configured at all falls back to the local region and credentials, so a
 * DynamoDB Local started by hand works with no AWS setup. The instance metadata service is never
 * asked (a laptop has none, and asking costs a timeout): on EC2 with only an instance role, set a
 * profile or keys to reach a real DynamoDB through an endpoint.
 */
export async function endpointDynamoDbClient(endpoint: string): Promise<DynamoDBClient> {
  // The SDK reads process.env itself, so the decision reads it too.
  const region = (await configuredRegion(endpoint)) ?? nonEmpty(process.env.AWS_DEFAULT_REGION) ?? LOCAL_DYNAMODB_REGION;
  const credentials = (await credentialsConfigured(process.env)) ? undefined : LOCAL_DYNAMODB_CREDENTIALS;
  return new DynamoDBClient({ endpoint, region, ...(credentials ? { credentials } : {}) });
}

/** The region the SDK itself resolves (AWS_REGION, the profile's `region`), or undefined when it finds none. */
async function configuredRegion(endpoint: string): Promise<string | undefined> {
  const probe = new DynamoDBClient({ endpoint });
  try {
    return await probe.config.region();
  } catch {
    return undefined;
  } finally {
    probe.destroy();
  }
}

async function credentialsConfigured(env: NodeJS.ProcessEnv): Promise<boolean> {
  if (CREDENTIAL_VARIABLES.some((name) => nonEmpty(env[name]) !== undefined)) return true;
  try {
    await fromIni({ ignoreCache: true })();
    return true;
  } catch {
    return false;
  }
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}
