/**
 * Enrollment throughput and latency over HTTP against the local gateway, in an empty network and
 * in one that already holds 20,000 hosts (the ratio shows whether cost grows with hosts), plus
 * the mean number of addresses tried per allocation at 50% and 90% fill.
 *
 * Run: npx tsx bench/enroll.bench.ts  (or npm run bench enroll). Starts its own DynamoDB Local.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { createHash, randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Ipv4Cidr } from '../src/mesh';
import { encodeX25519PublicKeyPem, generateX25519KeyPair } from '../src/pki';
import { startDynamoDbLocal } from '../src/server/dynamodb-local';
import { startGateway, type RunningGateway } from '../src/server';
import { ensureTable, GatewayStore, type HostRecord, hostItem, keys, leaseItem } from '../src/store';
import { printTable } from './table';

const SEEDED_HOSTS = 20_000;
const ROUNDS = 8;
const PER_ROUND = 30;
const IN_FLIGHT = 8;

process.env.AWS_ACCESS_KEY_ID ??= 'bench';
process.env.AWS_SECRET_ACCESS_KEY ??= 'bench';
process.env.AWS_REGION ??= 'us-east-1';

interface Sample {
  create: number[];
  enroll: number[];
  seconds: number;
  count: number;
}

async function main(): Promise<void> {
  const started = performance.now();
  const ddb = await startDynamoDbLocal();
  const dirs: string[] = [];
  const gateways: RunningGateway[] = [];
  const client = new DynamoDBClient({ endpoint: ddb.endpoint });
  try {
    const open = async (tableName: string) => {
      const dataDir = await mkdtemp(join(tmpdir(), 'gw-bench-'));
      dirs.push(dataDir);
      const gw = await startGateway({ dynamodbEndpoint: ddb.endpoint, tableName, dataDir, env: {}, log: () => undefined });
      gateways.push(gw);
      return gw;
    };
    const empty = await open('bench-empty');
    const full = await open('bench-20k');
    const t0 = performance.now();
    await seedHosts(client, 'bench-20k', SEEDED_HOSTS);
    const seedSeconds = (performance.now() - t0) / 1000;

    // Warm up both (JIT, connections), then alternate rounds so drift on a shared machine hits both alike.
    await run(empty, 30);
    await run(full, 30);
    const samples = { empty: newSample(), full: newSample() };
    for (let round = 0; round < ROUNDS; round++) {
      merge(samples.empty, await run(empty, PER_ROUND));
      merge(samples.full, await run(full, PER_ROUND));
    }

    const attempts = await allocationAttempts(client);

    const row = (name: string, s: Sample, base: Sample) => [
      name,
      (s.count / s.seconds).toFixed(1),
      ms(pct(s.create, 50)),
      ms(pct(s.create, 99)),
      ms(pct(s.enroll, 50)),
      ms(pct(s.enroll, 99)),
      (pct(s.create, 50) / pct(base.create, 50)).toFixed(2),
      (pct(s.enroll, 50) / pct(base.enroll, 50)).toFixed(2),
    ];
    printTable(
      ['network', 'enrollments/s', 'create p50', 'create p99', 'enroll p50', 'enroll p99', 'create p50 ratio', 'enroll p50 ratio'],
      [row('empty (baseline)', samples.empty, samples.empty), row(`${SEEDED_HOSTS.toLocaleString('en')} hosts`, samples.full, samples.empty)],
    );
    process.stdout.write(
      `\n${ROUNDS * PER_ROUND} enrollments (POST /v1/hosts + POST /v1/enroll) per network over HTTP, ${IN_FLIGHT} in flight; ` +
        `${SEEDED_HOSTS} hosts seeded with BatchWriteItem in ${seedSeconds.toFixed(1)} s.\n\n`,
    );
    printTable(
      ['fill of a /20 (4094 addresses)', 'how the taken addresses were assigned', 'mean attempts', 'max attempts'],
      attempts.map((a) => [`${a.fill}%`, a.how, a.mean.toFixed(2), String(a.max)]),
    );
    process.stdout.write(`\ntotal ${((performance.now() - started) / 1000).toFixed(0)} s\n`);
  } finally {
    for (const gw of gateways) await gw.stop();
    client.destroy();
    await ddb.stop();
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  }
}

/** `count` enrollments (create + enroll) over HTTP with IN_FLIGHT at once. */
async function run(gw: RunningGateway, count: number): Promise<Sample> {
  const sample = newSample();
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async () => {
      while (next < count) {
        next++;
        const a = performance.now();
        // Host names are unique among hosts that are not revoked.
        const created = await post(gw.url, '/v1/hosts', { name: `bench-${randomUUID()}`, role: 'environment' }, gw.adminToken);
        const b = performance.now();
        await post(gw.url, '/v1/enroll', { token: created.enrollment.token, publicKey: encodeX25519PublicKeyPem(generateX25519KeyPair().publicKey) });
        sample.create.push(b - a);
        sample.enroll.push(performance.now() - b);
      }
    }),
  );
  sample.seconds = (performance.now() - t0) / 1000;
  sample.count = count;
  return sample;
}

async function post(base: string, path: string, body: unknown, token?: string): Promise<any> {
  const response = await fetch(`${base}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify(body),
  });
  const json = await response.json();
  if (!response.ok) throw new Error(`${path}: ${response.status} ${JSON.stringify(json)}`);
  return json;
}

/** Writes `count` active hosts and their leases with the store's own item shapes, and moves the counter past them. */
async function seedHosts(client: DynamoDBClient, tableName: string, count: number): Promise<void> {
  const store = new GatewayStore({ client, tableName });
  const cidr = Ipv4Cidr.parse('10.42.0.0/16');
  const now = new Date();
  const doc = DynamoDBDocumentClient.from(client);
  const counter = await doc.send(
    new UpdateCommand({ TableName: tableName, Key: keys.ipCounter(), UpdateExpression: 'ADD #n :count', ExpressionAttributeNames: { '#n': 'next' }, ExpressionAttributeValues: { ':count': count }, ReturnValues: 'UPDATED_OLD' }),
  );
  const first = (counter.Attributes?.next as number | undefined) ?? 0;
  const chunk = 1000;
  const jobs: Promise<void>[] = [];
  for (let start = 0; start < count; start += chunk) {
    const items = [];
    for (let i = start; i < Math.min(count, start + chunk); i++) {
      const ip = cidr.addressAt(first + i);
      const host: HostRecord = {
        id: `h-seed${String(i).padStart(12, '0')}`,
        name: `seed-${i}`,
        role: i % 10 === 0 ? 'proxy' : 'environment',
        ip,
        groups: [],
        status: 'active',
        createdAt: now.toISOString(),
        enrolledAt: now.toISOString(),
        credentialHash: '0'.repeat(64),
      };
      items.push(hostItem(host), leaseItem(ip, host.id, now));
    }
    jobs.push(store.batchPut(items));
    if (jobs.length >= 4) await Promise.all(jobs.splice(0));
  }
  await Promise.all(jobs);
}

/**
 * Mean addresses tried per allocation in a /20 at 50% and 90% fill. Filled by the counter (the
 * normal case) every try succeeds; filled by explicit random requests, the counter steps over
 * taken addresses, which is the worst case for it.
 */
async function allocationAttempts(client: DynamoDBClient) {
  const results: { fill: number; how: string; mean: number; max: number }[] = [];
  const cidr = Ipv4Cidr.parse('10.77.0.0/20');
  for (const fill of [50, 90]) {
    for (const how of ['counter (sequential)', 'explicit random addresses'] as const) {
      const tableName = `bench-alloc-${fill}-${how.startsWith('counter') ? 'seq' : 'rnd'}`;
      await ensureTable(client, tableName);
      const store = new GatewayStore({ client, tableName });
      const taken = Math.round((cidr.usableCount * fill) / 100);
      const indexes = how.startsWith('counter') ? [...Array(taken).keys()] : shuffle([...Array(cidr.usableCount).keys()]).slice(0, taken);
      const now = new Date();
      await store.batchPut(indexes.map((i) => leaseItem(cidr.addressAt(i), `h-fill${i}`, now)));
      if (how.startsWith('counter')) {
        await DynamoDBDocumentClient.from(client).send(
          new UpdateCommand({ TableName: tableName, Key: keys.ipCounter(), UpdateExpression: 'SET #n = :n', ExpressionAttributeNames: { '#n': 'next' }, ExpressionAttributeValues: { ':n': taken } }),
        );
      }
      const tries: number[] = [];
      for (let i = 0; i < 40; i++) {
        const { attempts } = await store.createHost({
          host: { id: `h-bench${fill}${i}`, name: `alloc-${i}`, role: 'environment', groups: [] },
          cidr,
          token: { hash: createHash('sha256').update(`${tableName}/${i}`).digest('hex'), expiresAt: new Date(Date.now() + 3600_000) },
          now: new Date(),
        });
        tries.push(attempts);
      }
      results.push({ fill, how, mean: tries.reduce((a, b) => a + b, 0) / tries.length, max: Math.max(...tries) });
    }
  }
  return results;
}

function shuffle<T>(values: T[]): T[] {
  for (let i = values.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [values[i], values[j]] = [values[j], values[i]];
  }
  return values;
}

const newSample = (): Sample => ({ create: [], enroll: [], seconds: 0, count: 0 });
function merge(into: Sample, from: Sample): void {
  into.create.push(...from.create);
  into.enroll.push(...from.enroll);
  into.seconds += from.seconds;
  into.count += from.count;
}
function pct(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}
const ms = (v: number) => `${v.toFixed(1)} ms`;


main().catch((err) => {
  process.stderr.write(`${err.stack ?? err}\n`);
  process.exitCode = 1;
});
