/**
 * What one port change costs one proxy: `GET /v1/routes?since=<its version>` (a delta, applied to
 * the table in hand) against the baseline of fetching the whole table again, at 2,000 and 100,000
 * environments.
 *
 * - 2,000 hosts: everything real. The local gateway on DynamoDB Local holds 2,000 routes (seeded
 *   route items); per round one `PUT /v1/hosts/{id}/ports/{port}` over HTTP, then the proxy's side
 *   both ways over HTTP: the delta (GET + parse + apply + RouteIndex) and the whole table (GET,
 *   which re-reads the ROUTES partition since the version moved, + parse + RouteIndex).
 * - 100,000 hosts: the table is built in memory (populating DynamoDB Local with 100,000 routes takes
 *   minutes and would measure DynamoDB Local's Query, not the proxy): the full answer is the server's
 *   own rendering of it, timed for the proxy's side only (parse + RouteIndex); the delta is a real
 *   answer taken from the gateway above (a delta does not depend on the table's size: one Query of
 *   the change records after the version), timed for parse + apply to the 100,000-route table + RouteIndex.
 *
 * Run: npm run bench routes-delta. Starts its own DynamoDB Local.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { renderRouteTable } from '../src/api/route-table';
import { applyRouteDelta, parseRouteTable, parseRouteUpdate, RouteIndex, type RouteEntry, type RouteTable } from '../src/mesh/routes';
import { startDynamoDbLocal } from '../src/server/dynamodb-local';
import { startGateway } from '../src/server';
import { routeItem } from '../src/store';
import { printTable } from './table';

const SMALL = 2_000;
const LARGE = 100_000;
const CHANGES = 30;
const LARGE_ROUNDS = 5;

process.env.AWS_ACCESS_KEY_ID ??= 'bench';
process.env.AWS_SECRET_ACCESS_KEY ??= 'bench';
process.env.AWS_REGION ??= 'us-east-1';

const route = (i: number): RouteEntry => ({
  hostId: `h-${i.toString(36).padStart(16, '0')}`,
  ip: `10.${40 + Math.floor(i / 62_500)}.${Math.floor(i / 250) % 250}.${(i % 250) + 1}`,
  owner: { subject: `user${i}@example.com`, organization: 'acme' },
  ports: [{ port: 3000, access: 'private', protocol: 'http' }, { port: 8080, access: 'organization', protocol: 'https' }],
});

interface Cost {
  bytes: number[];
  ms: number[];
}
const cost = (): Cost => ({ bytes: [], ms: [] });

async function main(): Promise<void> {
  const started = performance.now();
  const ddb = await startDynamoDbLocal();
  const dataDir = await mkdtemp(join(tmpdir(), 'gw-bench-routes-delta-'));
  const gw = await startGateway({ dynamodbEndpoint: ddb.endpoint, tableName: 'bench-routes-delta', dataDir, env: {}, log: () => undefined }).catch(async (err) => {
    await ddb.stop();
    throw err;
  });
  try {
    const headers = { authorization: `Bearer ${gw.adminToken}` };
    const created = await fetch(`${gw.url}/v1/hosts`, {
      method: 'POST',
      headers: { ...headers, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'bench-env', role: 'environment', owner: { subject: 'alice', organization: 'acme' } }),
    });
    const changing = ((await created.json()) as { host: { id: string } }).host.id;
    await gw.store.batchPut(Array.from({ length: SMALL - 1 }, (_, i) => routeItem(route(i))));

    const get = async (query: string) => {
      const t = performance.now();
      const res = await fetch(`${gw.url}/v1/routes${query}`, { headers });
      const text = await res.text();
      return { text, t };
    };
    // The proxy's state, as RouteSource keeps it.
    let table: RouteTable = parseRouteTable(JSON.parse((await get('')).text));
    const small = { delta: cost(), full: cost() };
    const deltas: string[] = [];
    for (let i = 0; i < CHANGES + 3; i++) {
      const put = await fetch(`${gw.url}/v1/hosts/${changing}/ports/${4000 + (i % 3)}`, {
        method: 'PUT',
        headers: { ...headers, 'content-type': 'application/json' },
        body: JSON.stringify({ access: i % 2 ? 'public' : 'private' }),
      });
      if (put.status !== 200) throw new Error(`PUT port: HTTP ${put.status}`);
      // Alternate which goes first, so neither always meets a cold cache.
      const order = i % 2 ? (['full', 'delta'] as const) : (['delta', 'full'] as const);
      let next: RouteTable | undefined;
      for (const kind of order) {
        if (kind === 'delta') {
          const { text, t } = await get(`?since=${table.version}`);
          const update = parseRouteUpdate(JSON.parse(text));
          if (update.kind !== 'delta') throw new Error(`expected a delta, got a snapshot (${JSON.parse(text).snapshot})`);
          next = applyRouteDelta(table, update.delta);
          new RouteIndex(next);
          if (i >= 3) record(small.delta, text, t);
          deltas.push(text);
        } else {
          const { text, t } = await get('');
          new RouteIndex(parseRouteTable(JSON.parse(text)));
          if (i >= 3) record(small.full, text, t);
        }
      }
      table = next!;
    }

    // 100,000 routes, in memory (see the header).
    const large = { delta: cost(), full: cost() };
    const routes = Array.from({ length: LARGE }, (_, i) => route(i));
    const rendered = renderRouteTable(routes, { seq: 1, epoch: 'bench000' });
    let big: RouteTable = parseRouteTable(JSON.parse(rendered.json));
    for (let round = 0; round < LARGE_ROUNDS; round++) {
      let t = performance.now();
      new RouteIndex(parseRouteTable(JSON.parse(rendered.json)));
      record(large.full, rendered.json, t);
      // A real delta from above, re-labelled to start at the big table's version.
      const text = deltas[round + 3];
      t = performance.now();
      const update = parseRouteUpdate({ ...JSON.parse(text), from: big.version });
      if (update.kind !== 'delta') throw new Error('expected a delta');
      big = applyRouteDelta(big, update.delta);
      new RouteIndex(big);
      record(large.delta, text, t);
    }

    const rows: string[][] = [];
    for (const [hosts, c, how] of [
      [SMALL, small, 'HTTP + DynamoDB Local'],
      [LARGE, large, 'in memory, proxy side'],
    ] as const) {
      const fullBytes = median(c.full.bytes);
      const fullMs = median(c.full.ms);
      rows.push([`${hosts.toLocaleString('en')}`, 'whole table (baseline)', how, kib(fullBytes), ms(fullMs), '1', '1']);
      rows.push(['', 'delta (?since=)', how, kib(median(c.delta.bytes)), ms(median(c.delta.ms)), ratio(median(c.delta.bytes) / fullBytes), ratio(median(c.delta.ms) / fullMs)]);
    }
    printTable(['hosts', 'one port change, one proxy', 'measured', 'bytes (median)', 'time (median)', 'bytes ratio', 'time ratio'], rows);
    process.stdout.write(
      `\n${CHANGES} changes at ${SMALL.toLocaleString('en')} hosts, ${LARGE_ROUNDS} at ${LARGE.toLocaleString('en')}; delta bytes max ${Math.max(...small.delta.bytes)} B (target <= 10 KB at any size); total ${((performance.now() - started) / 1000).toFixed(0)} s\n`,
    );
  } finally {
    await gw.stop();
    await ddb.stop();
    await rm(dataDir, { recursive: true, force: true });
  }
}

function record(c: Cost, text: string, startedAt: number): void {
  c.ms.push(performance.now() - startedAt);
  c.bytes.push(Buffer.byteLength(text));
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}
const ms = (v: number) => `${v.toFixed(2)} ms`;
const kib = (v: number) => (v >= 1024 * 1024 ? `${(v / 1024 / 1024).toFixed(1)} MiB` : v >= 1024 ? `${(v / 1024).toFixed(1)} KiB` : `${v} B`);
const ratio = (v: number) => (v < 0.001 ? v.toExponential(1) : v.toFixed(3));


main().catch((err) => {
  process.stderr.write(`${err.stack ?? err}\n`);
  process.exitCode = 1;
});
