/**
 * `npm run bench cost`: the control plane's monthly cost at 1k, 10k and 100k connected hosts
 * (docs/cost.md), and the write ceiling of host creation (src/store/README.md).
 *
 * 1. Measures the DynamoDB capacity of each API operation: the local gateway runs against DynamoDB
 *    Local through a loopback proxy that asks for every call's consumed capacity (table and gsi1).
 *    Medians over a number of hosts, each created, enrolled, configured, renewed, given a port,
 *    seen by a proxy's route delta and revoked, in turn.
 * 2. Reads the deployment's resources from lib/config defaults (the same values `cdk synth` uses;
 *    not from a synthesized template) and the prices from bench/prices-2026-12.json.
 * 3. Prints the model's lines at 10k hosts, the totals and cost per host at each size for the
 *    server-watch design and for Lambda long-polls (the design before issue 11, as the baseline),
 *    the EC2 fleets and the egress fleet (when enabled) apart, and the all-in cost per host at 1k
 *    and 10k hosts. Also measured: a call written down as last seen, and an unchanged egress feed poll.
 *
 * Options: `-- --watchers-per-task N` (default: what fits in 75% of a 0.5 GB task at the RSS
 * `npm run bench watch` measured, 17.3 KiB per watcher over 125 MiB) and `-- --hosts N` (measured
 * hosts, default 12).
 */
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EGRESS_DEFAULTS, parseConfig } from '../lib/config';
import { encodeX25519PublicKeyPem, generateX25519KeyPair } from '../src/pki';
import { startDynamoDbLocal } from '../src/server/dynamodb-local';
import { startGateway } from '../src/server';
import { GatewayStore } from '../src/store';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { HOST_LISTING_SHARDS } from '../src/store/keys';
import { type Capacity, CapacityMeter, noCapacity, type WrittenItem } from './cost/capacity-meter';
import { type Assumptions, controlPlaneCost, DEFAULT_ASSUMPTIONS, type Deployment, egressCost, fleetCost, kmsKeys, lastSeenWritesPerMonth, type MeasuredMix, type Operation, type Prices, total } from './cost/model';
import { markdownTable } from './table';

const PRICE_FILE = join(__dirname, 'prices-2026-12.json');
const SIZES = [1_000, 10_000, 100_000];
/** GatewayFunction's default memory (lib/constructs/gateway-function.ts). */
const LAMBDA_MEMORY_GB = 0.5;
/** DynamoDB's documented ceiling per partition (base table item collection or GSI partition). */
const PARTITION_WCU = 1000;

process.env.AWS_ACCESS_KEY_ID ??= 'bench';
process.env.AWS_SECRET_ACCESS_KEY ??= 'bench';
process.env.AWS_REGION ??= 'us-east-1';

function option(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return fallback;
  const value = Number(process.argv[i + 1]);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`--${name} must be a positive number`);
  return value;
}

async function measure(hostsToMeasure: number): Promise<{ mix: MeasuredMix; index: Record<Operation, number>; written: WrittenItem[] }> {
  const ddb = await startDynamoDbLocal();
  const meter = new CapacityMeter(ddb.endpoint);
  const endpoint = await meter.start();
  const dataDir = await mkdtemp(join(tmpdir(), 'gw-bench-cost-'));
  const client = new DynamoDBClient({ endpoint });
  try {
    const gw = await startGateway({ dynamodbEndpoint: endpoint, tableName: 'bench-cost', dataDir, env: {}, log: () => undefined });
    const samples = new Map<Operation, Capacity[]>();
    const metered = async <T>(op: Operation, fn: () => Promise<T>): Promise<T> => {
      meter.current = noCapacity();
      const result = await fn();
      samples.set(op, [...(samples.get(op) ?? []), meter.current]);
      // Calls made between measured operations (the egress feed's rebuild) land in a sample nobody reads.
      meter.current = noCapacity();
      return result;
    };
    const call = async (method: string, path: string, token: string | undefined, body?: unknown, headers: Record<string, string> = {}) => {
      const res = await fetch(`${gw.url}${path}`, {
        method,
        headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body ? { 'content-type': 'application/json' } : {}), ...headers },
        body: body ? JSON.stringify(body) : undefined,
      });
      const text = await res.text();
      if (res.status >= 400) throw new Error(`${method} ${path}: HTTP ${res.status} ${text}`);
      return { status: res.status, etag: res.headers.get('etag') ?? '', json: text ? JSON.parse(text) : undefined };
    };
    try {
      const admin = gw.adminToken;
      const key = () => encodeX25519PublicKeyPem(generateX25519KeyPair().publicKey);
      const proxy = await call('POST', '/v1/hosts', admin, { name: 'cost-proxy', role: 'proxy' });
      const proxyCredential = (await call('POST', '/v1/enroll', undefined, { token: proxy.json.enrollment.token, publicKey: key() })).json.credential;
      let routesVersion = (await call('GET', `/v1/routes?host=${proxy.json.host.id}`, proxyCredential)).json.version as string;
      const egress = await call('POST', '/v1/hosts', admin, { name: 'cost-egress', role: 'egress' });
      const egressId = egress.json.host.id as string;
      const egressCredential = (await call('POST', '/v1/enroll', undefined, { token: egress.json.enrollment.token, publicKey: key() })).json.credential as string;
      // The node's first poll builds the feed and marks its credential used (once); the polls measured after it are unchanged ones.
      await call('GET', `/v1/egress/rules?host=${egressId}`, egressCredential);
      for (let i = 0; i < hostsToMeasure; i++) {
        const created = await metered('create', () => call('POST', '/v1/hosts', admin, { name: `cost-env-${i}`, role: 'environment', owner: { subject: 'alice', organization: 'acme' } }));
        const id = created.json.host.id as string;
        const enrolled = await metered('enroll', () => call('POST', '/v1/enroll', undefined, { token: created.json.enrollment.token, publicKey: key() }));
        const credential = enrolled.json.credential as string;
        const config = await metered('firstConfig', () => call('GET', `/v1/hosts/${id}/config`, credential));
        await metered('watchRepoll', () => call('GET', `/v1/hosts/${id}/config`, credential, undefined, { 'if-none-match': config.etag }));
        // A new agent version is written down at once: the same write as the periodic last-seen one (src/api/last-seen.ts).
        await metered('lastSeen', () => call('GET', `/v1/hosts/${id}/config`, credential, undefined, { 'if-none-match': config.etag, 'user-agent': 'gateway-agent/0.0.0-bench nebula/1.6.1' }));
        await metered('renew', () => call('POST', `/v1/hosts/${id}/renew`, credential, {}));
        await metered('portChange', () => call('PUT', `/v1/hosts/${id}/ports/3000`, admin, { access: 'private' }));
        const delta = await metered('routeDelta', () => call('GET', `/v1/routes?host=${proxy.json.host.id}&since=${routesVersion}`, proxyCredential));
        routesVersion = delta.json.to as string;
        await metered('revoke', () => call('DELETE', `/v1/hosts/${id}`, admin));
        const store = new GatewayStore({ client, tableName: 'bench-cost' });
        await metered('versionPoll', () => store.getConfigVersion());
        // After the revocation moved the egress version: one rebuild, then the unchanged poll measured.
        const feed = await call('GET', `/v1/egress/rules?host=${egressId}`, egressCredential);
        await metered('egressPoll', () => call('GET', `/v1/egress/rules?host=${egressId}`, egressCredential, undefined, { 'if-none-match': feed.etag }));
      }
    } finally {
      await gw.stop();
    }
    const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
    const mix = {} as Record<Operation, { read: number; write: number }>;
    const index = {} as Record<Operation, number>;
    for (const [op, list] of samples) {
      mix[op] = { read: median(list.map((c) => c.readUnits)), write: median(list.map((c) => c.tableWriteUnits + c.indexWriteUnits)) };
      index[op] = median(list.map((c) => c.indexWriteUnits));
    }
    return { mix, index, written: samples.get('create')![0].written.concat(samples.get('enroll')![0].written, samples.get('firstConfig')![0].written) };
  } finally {
    client.destroy();
    await meter.stop();
    await ddb.stop();
    await rm(dataDir, { recursive: true, force: true });
  }
}

function deployment(): Deployment {
  // The defaults every deployment gets unless configured otherwise; domain and admins are required inputs.
  const config = parseConfig({ domain: 'dev.acme-corp.io', admins: { roleArns: ['arn:aws:iam::123456789012:role/PlatformAdmin'] } });
  return {
    certificateLifetimeHours: config.certificateLifetimeHours,
    lambdaMemoryGb: LAMBDA_MEMORY_GB,
    serverDesiredCount: config.server.desiredCount,
    natGateways: config.vpc.mode === 'create' ? config.vpc.natGateways : 0,
    availabilityZones: config.vpc.mode === 'create' ? config.vpc.maxAzs : config.vpc.availabilityZones.length,
    // lib/stacks/network-stack.ts adds one to the VPC it creates.
    dynamodbGatewayEndpoint: config.vpc.mode === 'create',
    proxies: { count: config.proxies.min, instanceType: config.proxies.instanceType },
    lighthouses: { count: config.lighthouses.count, instanceType: config.lighthouses.instanceType },
    // Egress is off unless configured; the model prices the fleet as `{"enabled": true}` would deploy it.
    egress: { count: EGRESS_DEFAULTS.maxInstances, instanceType: EGRESS_DEFAULTS.instanceType },
    caNextKey: config.caNextKey,
  };
}

async function main(): Promise<void> {
  const started = performance.now();
  const assumptions: Assumptions = { ...DEFAULT_ASSUMPTIONS, watchersPerTask: option('watchers-per-task', DEFAULT_ASSUMPTIONS.watchersPerTask) };
  const prices = JSON.parse(readFileSync(PRICE_FILE, 'utf8')) as Prices & { written: string; checked: string; region: string };
  const d = deployment();
  const { mix, index, written } = await measure(option('hosts', 12));

  out(`Items written by one host's creation, enrollment and first call (bytes, DynamoDB's size rules): ${written.map((w) => `${w.kind} ${w.bytes}`).join(', ')}\n`);
  out('DynamoDB capacity per API operation (measured, median; transactions count double, as DynamoDB bills them):');
  out(markdownTable(['operation', 'read units', 'write units (table + gsi1)', 'of which gsi1'], Object.entries(mix).map(([op, c]) => [op, fmt(c.read), fmt(c.write), fmt(index[op as Operation])])));

  out(`\nControl-plane lines at 10,000 hosts (prices: ${prices.region}, written ${prices.written}, checked ${prices.checked}; sources and what is unconfirmed in the price file):`);
  const after10k = controlPlaneCost(10_000, 'server-watches', prices, d, mix, assumptions);
  const before10k = controlPlaneCost(10_000, 'lambda-long-polls', prices, d, mix, assumptions);
  out(markdownTable(['item', 'watches on the server', 'Lambda long-polls (before)'], after10k.map((l, i) => [l.item.replace(/ \(\d+\)$/, ''), usd(l.monthly), usd(before10k[i].monthly)])));

  out('\nMonthly control-plane cost:');
  const rows: string[][] = [];
  for (const hosts of SIZES) {
    const lines = controlPlaneCost(hosts, 'server-watches', prices, d, mix, assumptions);
    const tasks = /\((\d+)\)$/.exec(lines.find((l) => l.item.startsWith('Fargate'))!.item)![1];
    const after = total(lines);
    const before = total(controlPlaneCost(hosts, 'lambda-long-polls', prices, d, mix, assumptions));
    rows.push([hosts.toLocaleString('en'), tasks, usd(after), usd(after / hosts, 4), usd(before), usd(before / hosts, 2), (after / before).toExponential(2)]);
  }
  out(markdownTable(['connected hosts', 'server tasks', 'server watches', 'per host', 'Lambda long-polls (baseline)', 'per host', 'ratio'], rows));
  const fleets = fleetCost(prices, d, assumptions);
  out(`\nEC2 fleets, apart: ${fleets.map((l) => `${l.item} ${usd(l.monthly)}`).join('; ')}; total ${usd(total(fleets))} a month.`);
  const egress = egressCost(prices, d, mix, assumptions);
  out(`\nEgress fleet when enabled (\`gateway.egress\`, defaults; its feed is served by the server in the VPC, every ${assumptions.egressPollSeconds} s per node):`);
  out(markdownTable(['item', 'monthly'], [...egress.map((l) => [l.item, usd(l.monthly)]), ['total', usd(total(egress))]]));
  const rotationKey = (kmsKeys({ caNextKey: true }, assumptions) - kmsKeys({ caNextKey: false }, assumptions)) * prices.kmsPerKeyMonth;
  out(`CA rotation: the next CA key (\`caNextKey\`) adds ${usd(rotationKey)} a month while it exists (deployed: ${kmsKeys(d, assumptions)} keys).`);

  out('\nPer connected host per month, all in (control plane + EC2 fleets, with and without the egress fleet):');
  out(markdownTable(
    ['connected hosts', 'control plane', 'EC2 fleets', 'egress fleet', 'total, no egress', 'per host', 'total with egress', 'per host'],
    [1_000, 10_000].map((hosts) => {
      const plane = total(controlPlaneCost(hosts, 'server-watches', prices, d, mix, assumptions));
      const base = plane + total(fleets);
      return [hosts.toLocaleString('en'), usd(plane), usd(total(fleets)), usd(total(egress)), usd(base), usd(base / hosts, 4), usd(base + total(egress)), usd((base + total(egress)) / hosts, 4)];
    }),
  ));
  const lastSeen = lastSeenWritesPerMonth(10_000, prices.hoursPerMonth, assumptions);
  out(`Last-seen writes at 10k hosts: ${fmt(lastSeen / 1e6)} M a month x ${fmt(mix.lastSeen.write)} write units = ${usd(((lastSeen * mix.lastSeen.write) / 1e6) * prices.dynamodbOnDemandPerMillionWriteUnits)} (in "DynamoDB writes").`);
  const perHost10k = total(after10k) / 10_000;
  out(`Target <= $0.05 per connected host per month at 10k hosts: ${usd(perHost10k, 4)} (${perHost10k <= 0.05 ? 'met' : 'NOT met'}).`);

  // The write ceiling of host creation: every write of a host item also writes its gsi1 copy in its listing partition.
  const creation = index.create + index.enroll + index.firstConfig;
  const churn = creation + index.revoke + assumptions.portChangesPerHostMonth * index.portChange;
  const renewalsPerSecond = (100_000 / (d.certificateLifetimeHours * assumptions.renewAtFraction * 3600)) * index.renew;
  const ceiling = (units: number, shards: number) => fmt((shards * PARTITION_WCU - renewalsPerSecond) / units);
  out(
    `\nHost creation ceiling on the listing index (gsi1 units, measured: ${fmt(creation)} per creation + enrollment + first call; ` +
      `${fmt(churn)} with its revocation and ${assumptions.portChangesPerHostMonth} port changes; 100,000 hosts' renewals take ${fmt(renewalsPerSecond)} units/s):\n` +
      `  one HOSTS partition:  ${ceiling(creation, 1)} creations/s alone, ${ceiling(churn, 1)}/s in steady churn\n` +
      `  ${HOST_LISTING_SHARDS} listing shards:   ${ceiling(creation, HOST_LISTING_SHARDS)} creations/s alone, ${ceiling(churn, HOST_LISTING_SHARDS)}/s in steady churn; ` +
      `the address counter (one UpdateItem of ${fmt(1)} unit per creation on its own key) caps creation at ${PARTITION_WCU}/s`,
  );
  out(`\nassumptions: ${JSON.stringify(assumptions)}\ndeployment (lib/config defaults): ${JSON.stringify(d)}\ntotal ${((performance.now() - started) / 1000).toFixed(0)} s`);
}

const out = (line: string) => process.stdout.write(`${line}\n`);
const fmt = (v: number) => (Number.isInteger(v) ? String(v) : v.toFixed(1));
const usd = (v: number, digits = 2) => `$${v.toLocaleString('en', { minimumFractionDigits: digits, maximumFractionDigits: digits })}`;


main().catch((err) => {
  process.stderr.write(`${err.stack ?? err}\n`);
  process.exitCode = 1;
});
