/**
 * Fake credentials and region for every test: no test may reach AWS. DynamoDB Local keeps one
 * database per access key and region, so everything uses the same pair. Endpoints for other
 * services point at a closed loopback port, so a forgotten mock fails fast instead of calling AWS.
 */
export function applyTestEnvironment(): void {
  process.env.AWS_ACCESS_KEY_ID = 'testkey';
  process.env.AWS_SECRET_ACCESS_KEY = 'testsecret';
  process.env.AWS_REGION = 'us-east-1';
  process.env.AWS_DEFAULT_REGION = 'us-east-1';
  delete process.env.AWS_PROFILE;
  delete process.env.AWS_SESSION_TOKEN;
  process.env.AWS_EC2_METADATA_DISABLED = 'true';
  process.env.AWS_ENDPOINT_URL = 'http://127.0.0.1:9';
  // The SDK warns once per process that releases after January 2027 need Node 22. This machine
  // runs Node 20 and the lockfile pins today's SDK; the warning only buries test output.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
}
