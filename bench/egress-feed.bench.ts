/**
 * What one poll of the egress rule feed (`GET /v1/egress/rules`) costs at 2,000 environments, each
 * with an owner in one of 20 organisations that each have a policy:
 *
 * - unchanged: the egress node's usual poll, answered 304 after one GetItem of the egress version;
 * - rebuild: the first poll after a change (here a policy PUT before each round): the version, the
 *   network item (routes) and the policies' and members' partitions;
 * - baseline: the reads every poll made before the egress version (config version, policies, every
 *   environment through the host listing's 16 gsi1 shards), done the same way here.
 *
 * DynamoDB calls are counted on the measured API instance's client, read units as DynamoDB Local
 * reports them (through bench/cost's CapacityMeter), latency in-process (no HTTP) as the median of
 * the rounds. Seeded items have the store's own shapes; host items are padded to an enrolled host's
 * size (about 1 KB, see src/store/README.md). Run: npm run bench egress-feed. Starts its own DynamoDB Local.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { type Api, createApi, GatewayStore, hashSecret } from '../src/api';
import { EGRESS_FEED_ROUTES } from '../src/api/route-groups/egress';
import { buildEgressFeed } from '../src/api/egress-feed';
import { generateEd25519KeyPair, LocalSigner } from '../src/pki';
import { startGateway } from '../src/server';
import { startDynamoDbLocal } from '../src/server/dynamodb-local';
import { egressMemberItem, type HostRecord, hostItem } from '../src/store';
import { CapacityMeter, noCapacity } from './cost/capacity-meter';
import { printTable } from './table';

const ENVIRONMENTS = 2_000;
const ORGANIZATIONS = 20;
const UNCHANGED_ROUNDS = 300;
const REBUILD_ROUNDS = 30;
const ROUTES = ['10.0.0.0/16'];

process.env.AWS_ACCESS_KEY_ID ??= 'bench';
process.env.AWS_SECRET_ACCESS_KEY ??= 'bench';
process.env.AWS_REGION ??= 'us-east-1';

const organization = (i: number) => `org-${i % ORGANIZATIONS}`;

function environment(i: number): HostRecord {
  return {
    id: `h-${i.toString(36).padStart(16, '0')}`,
    name: `env-${i}`,
    role: 'environment',
    ip: `10.42.${Math.floor(i / 250)}.${(i % 250) + 1}`,
    groups: [],
    status: 'active',
    createdAt: '2026-12-01T00:00:00.000Z',
    owner: { subject: `user${i}@example.com`, organization: organization(i) },
    // The size of an enrolled host's certificate and key, which the listing reads with it.
    certificate: 'c'.repeat(600),
    publicKey: 'k'.repeat(100),
  };
}

interface Measured {
  calls: number;
  readUnits: number;
  ms: number[];
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

async function main(): Promise<void> {
  const ddb = await startDynamoDbLocal();
  const meter = new CapacityMeter(ddb.endpoint);
  const endpoint = await meter.start();
  const dataDir = await mkdtemp(join(tmpdir(), 'gw-bench-egress-feed-'));
  const client = new DynamoDBClient({ endpoint });
  const calls: string[] = [];
  client.middlewareStack.add(
    (next, context) => (args) => {
      calls.push(String(context.commandName));
      return next(args);
    },
    { step: 'initialize', name: 'countCalls' },
  );
  let api: Api | undefined;
  try {
    const gw = await startGateway({ dynamodbEndpoint: ddb.endpoint, tableName: 'bench-egress-feed', dataDir, env: {}, log: () => undefined, egressRoutes: ROUTES });
    try {
      const store = new GatewayStore({ client, tableName: gw.tableName });
      const hosts = Array.from({ length: ENVIRONMENTS }, (_, i) => environment(i));
      await gw.store.batchPut(hosts.flatMap((h) => [hostItem(h), egressMemberItem(h, h.owner!.organization)]));
      let revision = 0;
      const putPolicies = async () => {
        revision++;
        for (let o = 0; o < ORGANIZATIONS; o++) {
          await gw.store.putEgressPolicy({ organization: organization(o), rules: [{ cidr: `10.0.${revision % 250}.0/24`, proto: 'tcp', ports: '5432' }], now: new Date() });
        }
      };
      await putPolicies();
      api = createApi({ store, signer: new LocalSigner(generateEd25519KeyPair().privateKey), adminTokenHash: hashSecret(gw.adminToken) }, EGRESS_FEED_ROUTES);
      const poll = (etag?: string) =>
        api!({ method: 'GET', path: '/v1/egress/rules', headers: { authorization: `Bearer ${gw.adminToken}`, ...(etag ? { 'if-none-match': etag } : {}) }, query: {}, body: Buffer.alloc(0) });

      const measure = async (rounds: number, before: () => Promise<unknown>, run: () => Promise<unknown>): Promise<Measured> => {
        const result: Measured = { calls: 0, readUnits: 0, ms: [] };
        for (let i = 0; i < rounds; i++) {
          await before();
          calls.length = 0;
          meter.current = noCapacity();
          const started = performance.now();
          await run();
          result.ms.push(performance.now() - started);
          result.calls += calls.length;
          result.readUnits += meter.current.readUnits;
        }
        return { ...result, calls: result.calls / rounds, readUnits: result.readUnits / rounds };
      };

      const first = await poll();
      if (first.status !== 200) throw new Error(`the feed answered ${first.status}: ${first.body}`);
      const members = (JSON.parse(first.body) as { organizations: { members: unknown[] }[] }).organizations.reduce((n, o) => n + o.members.length, 0);
      if (members !== ENVIRONMENTS) throw new Error(`the feed lists ${members} members, not ${ENVIRONMENTS}`);
      const etag = first.headers.etag as string;

      const unchanged = await measure(UNCHANGED_ROUNDS, async () => undefined, async () => {
        const answer = await poll(etag);
        if (answer.status !== 304) throw new Error(`an unchanged poll answered ${answer.status}`);
      });
      const rebuild = await measure(REBUILD_ROUNDS, putPolicies, async () => {
        const answer = await poll(etag);
        if (answer.status !== 200) throw new Error(`a poll after a change answered ${answer.status}`);
      });
      const baseline = await measure(REBUILD_ROUNDS, async () => undefined, async () => {
        const [, policies, environments] = await Promise.all([store.getConfigVersion(), store.listEgressPolicies(), listEnvironments(store)]);
        const owned = environments.flatMap((h) => (h.owner ? [{ hostId: h.id, name: h.name, ip: h.ip, organization: h.owner.organization }] : []));
        if (owned.length !== ENVIRONMENTS) throw new Error(`the listing gave ${owned.length} environments`);
        buildEgressFeed({ routes: ROUTES, policies, members: owned });
      });

      const row = (what: string, m: Measured) => [
        what,
        m.calls.toFixed(1),
        m.readUnits.toFixed(1),
        median(m.ms).toFixed(2),
        (m.calls / unchanged.calls).toFixed(0),
        (m.readUnits / unchanged.readUnits).toFixed(0),
        (median(m.ms) / median(unchanged.ms)).toFixed(1),
      ];
      process.stdout.write(`${ENVIRONMENTS} environments with owners, ${ORGANIZATIONS} organisations with a policy each\n\n`);
      printTable(
        ['poll', 'DynamoDB calls', 'read units', 'median ms', 'calls vs 304', 'read units vs 304', 'latency vs 304'],
        [row(`unchanged: 304 (${UNCHANGED_ROUNDS} rounds)`, unchanged), row(`rebuild after a change (${REBUILD_ROUNDS})`, rebuild), row(`baseline: every poll before (${REBUILD_ROUNDS})`, baseline)],
      );
    } finally {
      api?.close();
      await gw.stop();
    }
  } finally {
    client.destroy();
    await meter.stop();
    await ddb.stop();
    await rm(dataDir, { recursive: true, force: true });
  }
}

/** Every environment through the host listing's pages, as the feed read them on every poll before the egress version. */
async function listEnvironments(store: GatewayStore): Promise<HostRecord[]> {
  const hosts: HostRecord[] = [];
  let cursor: string | undefined;
  do {
    const page = await store.listHosts({ role: 'environment', limit: 1000, cursor });
    hosts.push(...page.hosts);
    cursor = page.nextCursor;
  } while (cursor);
  return hosts;
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
