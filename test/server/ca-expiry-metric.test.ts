import { CloudWatchClient, PutMetricDataCommand } from '@aws-sdk/client-cloudwatch';
import { mockClient } from 'aws-sdk-client-mock';
import { DEFAULT_NETWORK_POLICY } from '../../src/mesh/firewall';
import { createCA, generateEd25519KeyPair, LocalSigner } from '../../src/pki';
import { caDaysToExpiry, cloudWatchCaExpirySink, startCaExpiryReporter } from '../../src/server/ca-expiry-metric';
import { ensureTable, GatewayStore } from '../../src/store';
import { dropTable, testDynamoClient, uniqueTableName } from '../support/dynamodb';
import { waitUntil } from '../support/wait';

// The server reports the CA's days to expiry for the stack's alarm. The store is DynamoDB Local;
// CloudWatch has no local implementation, so its client is mocked with aws-sdk-client-mock.
const DAY = 86_400_000;
const now = new Date('2027-01-01T00:00:00Z');
const dynamo = testDynamoClient();
const TABLE = uniqueTableName('ca-expiry');
const cloudWatch = mockClient(CloudWatchClient);

async function ca(name: string, days: number) {
  return createCA({ name, signer: new LocalSigner(generateEd25519KeyPair().privateKey), now, notAfter: new Date(now.getTime() + days * DAY) });
}

beforeAll(async () => {
  await ensureTable(dynamo, TABLE);
});
afterAll(async () => {
  await dropTable(dynamo, TABLE);
  dynamo.destroy();
});
beforeEach(() => cloudWatch.reset());

test('days to expiry: the latest CA of the bundle counts (a rotation holds the old CA and its successor)', async () => {
  const old = await ca('old', 10);
  const next = await ca('next', 400);
  expect(caDaysToExpiry(old.toPem(), now)).toBe(10);
  expect(caDaysToExpiry(old.toPem() + next.toPem(), now)).toBe(400);
  expect(caDaysToExpiry(old.toPem(), new Date(now.getTime() + 12 * DAY))).toBe(-2);
  expect(() => caDaysToExpiry('', now)).toThrow(/valid PEM/);
});

test('the sink puts the metric the alarm watches: namespace, name, Network dimension', async () => {
  cloudWatch.on(PutMetricDataCommand).resolves({});
  await cloudWatchCaExpirySink({ namespace: 'NebulaGateway', network: 'Acme', client: new CloudWatchClient({}) })(42.5);
  const calls = cloudWatch.commandCalls(PutMetricDataCommand);
  expect(calls.map((c) => c.args[0].input)).toEqual([
    { Namespace: 'NebulaGateway', MetricData: [{ MetricName: 'CaCertificateDaysToExpiry', Dimensions: [{ Name: 'Network', Value: 'Acme' }], Value: 42.5, Unit: 'Count' }] },
  ]);
});

test("the reporter reads the stored CA at start and every interval, warns under 30 days, and survives a failed put", async () => {
  const store = new GatewayStore({ client: dynamo, tableName: TABLE });
  await store.initNetwork({ cidr: '10.42.0.0/16', caBundle: (await ca('net', 20)).toPem(), policy: { ...DEFAULT_NETWORK_POLICY }, createdAt: now.toISOString() });
  const reported: number[] = [];
  const lines: string[] = [];
  let failOnce = true;
  const reporter = startCaExpiryReporter({
    store,
    clock: () => now,
    log: (line) => lines.push(line),
    intervalMs: 20,
    sink: async (days) => {
      if (failOnce) {
        failOnce = false;
        throw new Error('throttled');
      }
      reported.push(days);
    },
  });
  try {
    await waitUntil('two reports after a failed one', () => reported.length, (n) => n >= 2);
  } finally {
    await reporter.stop();
  }
  expect(reported.slice(0, 2)).toEqual([20, 20]);
  // The warning lines are the sweep's, once a day (test/server/ca-expiry-warnings.test.ts).
  expect(lines.filter((l) => l.startsWith('warning'))).toEqual([]);
  expect(lines).toContain('CA expiry report failed: throttled');
});
