/**
 * `GET /v1/routes` over HTTP against the local gateway with 2,000 environments publishing ports:
 * the table cached per version (what the server does), a conditional GET answered 304, and as
 * the baseline the same route table read with the Query and rendered on every request (what a
 * request would cost without the cache).
 *
 * Run: npx tsx bench/routes.bench.ts  (or npm run bench routes). Starts its own DynamoDB Local.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { renderRouteTable } from '../src/api/route-table';
import { startDynamoDbLocal } from '../src/server/dynamodb-local';
import { startGateway } from '../src/server';
import { routeItem } from '../src/store';
import { printTable } from './table';

const HOSTS = 2_000;
const ROUNDS = 6;
const PER_ROUND = 40;

process.env.AWS_ACCESS_KEY_ID ??= 'bench';
process.env.AWS_SECRET_ACCESS_KEY ??= 'bench';
process.env.AWS_REGION ??= 'us-east-1';

async function main(): Promise<void> {
  const started = performance.now();
  const ddb = await startDynamoDbLocal();
  const dataDir = await mkdtemp(join(tmpdir(), 'gw-bench-routes-'));
  const client = new DynamoDBClient({ endpoint: ddb.endpoint });
  const gw = await startGateway({ dynamodbEndpoint: ddb.endpoint, tableName: 'bench-routes', dataDir, env: {}, log: () => undefined }).catch(async (err) => {
    await ddb.stop();
    throw err;
  });
  try {
    const items = Array.from({ length: HOSTS }, (_, i) =>
      routeItem({
        hostId: `h-${i.toString(32).padStart(16, 'a')}`,
        ip: `10.42.${Math.floor(i / 250)}.${(i % 250) + 1}`,
        owner: { subject: `user${i}@example.com`, organization: 'acme' },
        ports: [{ port: 3000, access: 'private', protocol: 'http' }, { port: 8080, access: 'organization', protocol: 'https' }],
      }),
    );
    await gw.store.batchPut(items);
    const headers = { authorization: `Bearer ${gw.adminToken}` };
    const first = await fetch(`${gw.url}/v1/routes`, { headers });
    const etag = first.headers.get('etag')!;
    const bytes = (await first.text()).length;

    const cached = async () => {
      const res = await fetch(`${gw.url}/v1/routes`, { headers });
      await res.text();
    };
    const notModified = async () => {
      const res = await fetch(`${gw.url}/v1/routes`, { headers: { ...headers, 'if-none-match': etag } });
      if (res.status !== 304) throw new Error(`expected 304, got ${res.status}`);
      await res.text();
    };
    const uncached = async () => {
      renderRouteTable(await gw.store.listRoutes(), { seq: 0 }).json.length;
    };
    const samples = { uncached: [] as number[], cached: [] as number[], notModified: [] as number[] };
    for (const fn of [uncached, cached, notModified]) await time(fn, 5);
    // Alternate rounds so drift on a shared machine hits all alike.
    for (let round = 0; round < ROUNDS; round++) {
      samples.uncached.push(...(await time(uncached, PER_ROUND / 4)));
      samples.cached.push(...(await time(cached, PER_ROUND)));
      samples.notModified.push(...(await time(notModified, PER_ROUND)));
    }
    const base = pct(samples.uncached, 50);
    const row = (name: string, s: number[]) => [name, ms(pct(s, 50)), ms(pct(s, 99)), (pct(s, 50) / base).toFixed(3)];
    printTable(
      ['GET /v1/routes, 2,000 hosts', 'p50', 'p99', 'p50 ratio'],
      [
        row('Query + render per request (baseline)', samples.uncached),
        row('cached per version, 200 over HTTP', samples.cached),
        row('If-None-Match, 304 over HTTP', samples.notModified),
      ],
    );
    process.stdout.write(`\ntable ${(bytes / 1024).toFixed(0)} KiB; ${samples.cached.length} requests per HTTP row; total ${((performance.now() - started) / 1000).toFixed(0)} s\n`);
  } finally {
    await gw.stop();
    client.destroy();
    await ddb.stop();
    await rm(dataDir, { recursive: true, force: true });
  }
}

async function time(fn: () => Promise<void>, count: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < count; i++) {
    const t = performance.now();
    await fn();
    out.push(performance.now() - t);
  }
  return out;
}

function pct(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}
const ms = (v: number) => `${v.toFixed(2)} ms`;


main().catch((err) => {
  process.stderr.write(`${err.stack ?? err}\n`);
  process.exitCode = 1;
});
