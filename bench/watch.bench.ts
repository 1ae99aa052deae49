/**
 * 10,000 concurrent config watchers against one local `gateway serve` process (issue 11).
 *
 * The server is `bin/gateway.js serve` in its own process on DynamoDB Local (through a pass-through
 * that counts DynamoDB requests). Watchers run in two client processes (under the open-files limit
 * each), one loopback source address per connection (127.10.x.y), opened as a reconnect storm (all
 * within about a second). Each watcher behaves as the agent does: long-poll `?wait=60` with its
 * ETag, re-issued at once after every answer. Measured: server RSS per watcher, server CPU and
 * DynamoDB reads per second while idle, and for a `DELETE /v1/hosts/{id}`, the time until the last
 * watcher holds the new blocklist (p50, p99, max), bytes on the wire per watcher (headers
 * included) and connections lost. Baseline in the same run: the first revocation is answered
 * with whole configs (watchers not asking for deltas, the path before issue 11); the second with
 * deltas. Watchers are spread over WATCH_BENCH_HOSTS enrolled hosts (many watchers per host cost
 * the server what as many hosts would: one held request each).
 *
 * Run: npm run bench watch   (WATCH_BENCH_WATCHERS=10000 WATCH_BENCH_HOSTS=100 by default)
 */
import { type ChildProcess, fork, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, request as httpRequest } from 'node:http';
import { type AddressInfo, connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { encodeX25519PublicKeyPem, generateX25519KeyPair, NebulaCertificate } from '../src/pki';
import { startDynamoDbLocal } from '../src/server/dynamodb-local';

const WATCHERS = Number(process.env.WATCH_BENCH_WATCHERS ?? 10_000);
const HOSTS = Number(process.env.WATCH_BENCH_HOSTS ?? 100);
const CLIENT_PROCESSES = 2;
const DELTA = 'application/vnd.nebula-gateway.config-delta+json';
const SECONDS_PER_MONTH = 30 * 24 * 3600;
const CLOCK_TICKS = 100;
const PHASE_TIMEOUT_MS = 50_000;

interface Watch {
  hostId: string;
  credential: string;
  etag: string;
}

/** Parent → client: start the storm; report what arrived since `since`. */
type ToClient = { kind: 'start'; port: number; watches: Watch[]; offset: number } | { kind: 'report'; fingerprint: string };
/** Client → parent. */
type FromClient =
  | { kind: 'sent'; count: number; seconds: number }
  | { kind: 'report'; arrivals: number[]; bytes: number[]; lost: number; pending: number; notModified: number };

// ---------------------------------------------------------------------------------------------
// Client process: WATCHERS / CLIENT_PROCESSES raw HTTP/1.1 connections.

function runClient(): void {
  let lost = 0;
  let notModified = 0;
  /** Per watcher: when and with how many bytes each answer holding a fingerprint arrived. */
  const got: Map<string, { at: number; bytes: number }>[] = [];
  const watchers: { socket: Socket; watch: Watch; delta: boolean; buffer: Buffer }[] = [];
  const send = (w: (typeof watchers)[number]) => {
    const accept = w.delta ? `${DELTA}, application/json` : 'application/json';
    w.socket.write(
      `GET /v1/hosts/${w.watch.hostId}/config?wait=60 HTTP/1.1\r\nHost: gateway\r\nAuthorization: Bearer ${w.watch.credential}\r\nAccept: ${accept}\r\nIf-None-Match: ${w.watch.etag}\r\n\r\n`,
    );
  };
  const onData = (i: number, chunk: Buffer) => {
    const w = watchers[i];
    w.buffer = w.buffer.length === 0 ? chunk : Buffer.concat([w.buffer, chunk]);
    for (;;) {
      const end = w.buffer.indexOf('\r\n\r\n');
      if (end < 0) return;
      const head = w.buffer.subarray(0, end).toString('latin1');
      const length = Number(/\r\ncontent-length: (\d+)/i.exec(head)?.[1] ?? 0);
      const total = end + 4 + length;
      if (w.buffer.length < total) return;
      const status = Number(head.slice(9, 12));
      const body = w.buffer.subarray(end + 4, total).toString('utf8');
      w.buffer = w.buffer.subarray(total);
      if (status === 200) {
        const at = Date.now();
        w.watch.etag = /\r\netag: ([^\r]+)/i.exec(head)?.[1] ?? w.watch.etag;
        for (const fingerprint of body.match(/[0-9a-f]{64}/g) ?? []) if (!got[i].has(fingerprint)) got[i].set(fingerprint, { at, bytes: total });
        // The first change is the baseline (whole configs); from then on this watcher asks for deltas.
        w.delta = true;
      } else if (status === 304) {
        notModified++;
      } else {
        lost++;
      }
      send(w);
    }
  };
  process.on('message', (message: ToClient) => {
    if (message.kind === 'start') {
      const { port, watches, offset } = message;
      let sent = 0;
      let opened = 0;
      const stormStart = performance.now();
      // Open in slices of one event loop turn each: a storm within about a second, not one synchronous burst.
      const openSome = () => {
        for (let k = 0; k < 500 && opened < watches.length; k++, opened++) {
          const i = opened;
          const n = offset + i;
          const localAddress = `127.10.${Math.floor(n / 250)}.${1 + (n % 250)}`;
          const socket = connect({ host: '127.0.0.1', port, localAddress });
          got[i] = new Map();
          watchers[i] = { socket, watch: { ...watches[i] }, delta: false, buffer: Buffer.alloc(0) };
          socket.setNoDelay(true);
          socket.once('connect', () => {
            send(watchers[i]);
            if (++sent === watches.length) process.send!({ kind: 'sent', count: sent, seconds: (performance.now() - stormStart) / 1000 } satisfies FromClient);
          });
          socket.on('data', (chunk: Buffer) => onData(i, chunk));
          socket.on('error', () => undefined);
          socket.on('close', () => lost++);
        }
        if (opened < watches.length) setTimeout(openSome, 10);
      };
      openSome();
    } else {
      const arrivals: number[] = [];
      const bytes: number[] = [];
      for (const seen of got) {
        const hit = seen.get(message.fingerprint);
        if (hit) {
          arrivals.push(hit.at);
          bytes.push(hit.bytes);
        }
      }
      process.send!({ kind: 'report', arrivals, bytes, lost, pending: got.length - arrivals.length, notModified } satisfies FromClient);
    }
  });
}

// ---------------------------------------------------------------------------------------------
// Parent: DynamoDB Local, a counting pass-through, the server, enrollment, phases, the report.

interface ServerProcess {
  child: ChildProcess;
  url: string;
  pid: number;
}

function rssKiB(pid: number): number {
  return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? NaN);
}

function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until<T>(what: string, probe: () => Promise<T> | T, done: (value: T) => boolean, timeoutMs = PHASE_TIMEOUT_MS): Promise<T> {
  const giveUp = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (done(value)) return value;
    if (Date.now() > giveUp) throw new Error(`gave up waiting for ${what}; last saw ${JSON.stringify(value).slice(0, 300)}`);
    await sleep(200);
  }
}

function percentile(sorted: number[], p: number): number {
  return sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

async function main(): Promise<void> {
  const ddb = await startDynamoDbLocal();
  const counts = new Map<string, number>();
  const meter = createServer((req, res) => {
    const target = String(req.headers['x-amz-target'] ?? '').split('.').pop() ?? '?';
    counts.set(target, (counts.get(target) ?? 0) + 1);
    // DynamoDB Local (the loopback launcher) answers only requests naming itself in Host.
    const headers = { ...req.headers, host: `127.0.0.1:${ddb.port}` };
    const upstream = httpRequest({ host: '127.0.0.1', port: ddb.port, path: req.url, method: req.method, headers }, (up) => {
      res.writeHead(up.statusCode ?? 502, up.headers);
      up.pipe(res);
    });
    req.pipe(upstream);
  });
  await new Promise<void>((done) => meter.listen(0, '127.0.0.1', done));
  const meterUrl = `http://127.0.0.1:${(meter.address() as AddressInfo).port}`;
  const dataDir = await mkdtemp(join(tmpdir(), 'watch-bench-'));
  const adminToken = `gwa_${'b'.repeat(32)}`;
  const clients: ChildProcess[] = [];
  let server: ServerProcess | undefined;
  try {
    server = await startServer(dataDir, meterUrl, adminToken);
    const call = async (method: string, path: string, token: string, body?: unknown) => {
      const res = await fetch(`${server!.url}${path}`, { method, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
      const text = await res.text();
      if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${text}`);
      return { json: text ? JSON.parse(text) : undefined, etag: res.headers.get('etag') ?? '' };
    };
    const enroll = async (name: string) => {
      const created = (await call('POST', '/v1/hosts', adminToken, { name, role: 'environment' })).json;
      const enrolled = (await call('POST', '/v1/enroll', '', { token: created.enrollment.token, publicKey: encodeX25519PublicKeyPem(generateX25519KeyPair().publicKey) })).json;
      return { hostId: created.host.id as string, credential: enrolled.credential as string, fingerprint: NebulaCertificate.fromPem(enrolled.certificate).fingerprint() };
    };
    // Two lighthouses, as a real network has: their addresses are part of every whole config.
    for (const [i, ip] of ['203.0.113.10', '203.0.113.11'].entries()) await call('POST', '/v1/hosts', adminToken, { name: `lighthouse-${i}`, role: 'lighthouse', endpoints: [`${ip}:4242`] });
    const hosts: { hostId: string; credential: string }[] = [];
    for (let i = 0; i < HOSTS; i += 10) hosts.push(...(await Promise.all(Array.from({ length: Math.min(10, HOSTS - i) }, (_, k) => enroll(`watcher-${i + k}`)))));
    const victims = [await enroll('victim-full'), await enroll('victim-delta')];
    const watches: Watch[] = [];
    for (const host of hosts) {
      const { etag } = await call('GET', `/v1/hosts/${host.hostId}/config`, host.credential);
      for (let k = 0; k < WATCHERS / HOSTS; k++) watches.push({ ...host, etag });
    }
    await sleep(2000);
    const rssBefore = rssKiB(server.pid);

    // The reconnect storm.
    const reports: FromClient[] = [];
    let sent = 0;
    let stormSeconds = 0;
    const perClient = Math.ceil(watches.length / CLIENT_PROCESSES);
    for (let c = 0; c < CLIENT_PROCESSES; c++) {
      const child = fork(__filename, ['client'], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
      child.on('message', (m: FromClient) => {
        if (m.kind !== 'sent') return void reports.push(m);
        sent += m.count;
        stormSeconds = Math.max(stormSeconds, m.seconds);
      });
      child.send({ kind: 'start', port: Number(new URL(server.url).port), watches: watches.slice(c * perClient, (c + 1) * perClient), offset: c * perClient } satisfies ToClient);
      clients.push(child);
    }
    await until('every watcher to send its long-poll (requests sent)', () => sent, (n) => n === watches.length);
    // Parked: every request authenticated (one GetItem each) and the server idle.
    await until('the server to go idle (CPU seconds over the last second)', async () => {
      const before = cpuSeconds(server!.pid);
      await sleep(1000);
      return cpuSeconds(server!.pid) - before;
    }, (used) => used < 0.05, 120_000);
    const idle = await measureIdle(server.pid, counts);
    const rssAfter = rssKiB(server.pid);

    const collect = async (fingerprint: string) => {
      reports.length = 0;
      for (const child of clients) child.send({ kind: 'report', fingerprint } satisfies ToClient);
      await until('client reports', () => reports.length, (n) => n === clients.length, 10_000);
      const all = reports.filter((r): r is Extract<FromClient, { kind: 'report' }> => r.kind === 'report');
      return {
        arrivals: all.flatMap((r) => r.arrivals),
        bytes: all.flatMap((r) => r.bytes),
        lost: all.reduce((n, r) => n + r.lost, 0),
        notModified: all.reduce((n, r) => n + r.notModified, 0),
      };
    };
    const revoke = async (victim: { hostId: string; fingerprint: string }) => {
      const t0 = Date.now();
      await call('DELETE', `/v1/hosts/${victim.hostId}`, adminToken);
      let last = await collect(victim.fingerprint);
      try {
        last = await until(`every watcher to hold ${victim.fingerprint.slice(0, 12)} (arrivals so far)`, () => collect(victim.fingerprint), (r) => r.arrivals.length === watches.length);
      } catch (err) {
        process.stdout.write(`  ${(err as Error).message.split(';')[0]}\n`);
      }
      const latencies = last.arrivals.map((at) => (at - t0) / 1000).sort((a, b) => a - b);
      const bytes = last.bytes.reduce((a, b) => a + b, 0) / Math.max(1, last.bytes.length);
      return { reached: last.arrivals.length, p50: percentile(latencies, 50), p99: percentile(latencies, 99), max: latencies.at(-1) ?? NaN, bytes, lost: last.lost };
    };
    const full = await revoke(victims[0]);
    // The re-issued polls (now asking for deltas) authenticate again: wait until they are parked.
    await until('the server to go idle again', async () => {
      const before = cpuSeconds(server!.pid);
      await sleep(1000);
      return cpuSeconds(server!.pid) - before;
    }, (used) => used < 0.05, 120_000);
    const delta = await revoke(victims[1]);
    const final = await collect(victims[1].fingerprint);

    const rows: [string, string, string, string][] = [
      ['watchers reached', `${full.reached}/${watches.length}`, `${delta.reached}/${watches.length}`, ''],
      ['revocation → last watcher, p50 (s)', full.p50.toFixed(2), delta.p50.toFixed(2), ratio(full.p50, delta.p50)],
      ['revocation → last watcher, p99 (s)', full.p99.toFixed(2), delta.p99.toFixed(2), ratio(full.p99, delta.p99)],
      ['revocation → last watcher, max (s)', full.max.toFixed(2), delta.max.toFixed(2), ratio(full.max, delta.max)],
      ['bytes per watcher per revocation (headers incl.)', full.bytes.toFixed(0), delta.bytes.toFixed(0), ratio(full.bytes, delta.bytes)],
    ];
    process.stdout.write(`${WATCHERS} watchers over ${HOSTS} hosts, opened (connected and requests sent) within ${stormSeconds.toFixed(2)} s in each of ${CLIENT_PROCESSES} client processes\n\n`);
    process.stdout.write('| measure | whole config (baseline) | delta | baseline/delta |\n|---|---|---|---|\n');
    for (const row of rows) process.stdout.write(`| ${row.join(' | ')} |\n`);
    process.stdout.write(`\nconnections lost (closed or non-200/304 answers): ${final.lost} (target 0)\n`);
    process.stdout.write(`server RSS: ${(rssBefore / 1024).toFixed(1)} MiB before, ${(rssAfter / 1024).toFixed(1)} MiB with the watchers: ${(((rssAfter - rssBefore) * 1024) / WATCHERS / 1024).toFixed(1)} KiB per watcher (target <= 32)\n`);
    process.stdout.write(`server CPU while idle: ${(idle.cpuPerSecond * 1000).toFixed(1)} ms per second over ${idle.seconds} s\n`);
    process.stdout.write(
      `DynamoDB requests while idle: ${idle.readsPerSecond.toFixed(2)} GetItem/s (the version polls) = ${((idle.readsPerSecond * SECONDS_PER_MONTH) / 1e6).toFixed(2)} M strongly consistent reads per task-month\n`,
    );
    process.stdout.write(`304s answered (waits that ran out) during the run: ${final.notModified}\n`);
  } finally {
    for (const child of clients) child.kill('SIGKILL');
    if (server) {
      server.child.kill('SIGTERM');
      await new Promise((done) => (server!.child.exitCode === null ? server!.child.once('exit', done) : done(null)));
    }
    meter.close();
    await ddb.stop();
    await rm(dataDir, { recursive: true, force: true });
  }
}

function ratio(baseline: number, value: number): string {
  return Number.isFinite(baseline) && Number.isFinite(value) && value > 0 ? `${(baseline / value).toFixed(1)}×` : 'n/a';
}

async function measureIdle(pid: number, counts: Map<string, number>): Promise<{ seconds: number; cpuPerSecond: number; readsPerSecond: number }> {
  const seconds = 10;
  const cpu0 = cpuSeconds(pid);
  const reads0 = counts.get('GetItem') ?? 0;
  await sleep(seconds * 1000);
  return { seconds, cpuPerSecond: (cpuSeconds(pid) - cpu0) / seconds, readsPerSecond: ((counts.get('GetItem') ?? 0) - reads0) / seconds };
}

async function startServer(dataDir: string, dynamodb: string, adminToken: string): Promise<ServerProcess> {
  const gateway = resolve(__dirname, '../bin/gateway.js');
  const child = spawn(process.execPath, [gateway, 'serve', '--port', '0', '--data-dir', dataDir, '--dynamodb-endpoint', dynamodb], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, GATEWAY_ADMIN_TOKEN: adminToken, AWS_ACCESS_KEY_ID: 'bench', AWS_SECRET_ACCESS_KEY: 'bench', AWS_REGION: 'us-east-1' },
  });
  let output = '';
  child.stdout!.on('data', (c: Buffer) => (output += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (output = (output + c.toString()).slice(-20_000)));
  const url = await until('gateway serve to listen (its output)', () => /listening on (http:\/\/\S+)/.exec(output)?.[1] ?? output.slice(-500), (u) => u.startsWith('http://'), 90_000);
  return { child, url, pid: child.pid! };
}

if (process.argv[2] === 'client') {
  runClient();
} else {
  main().catch((err: unknown) => {
    process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
    process.exitCode = 1;
  });
}
