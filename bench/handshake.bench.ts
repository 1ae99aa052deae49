import type { ChildProcess } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect as netConnect, createServer as netCreateServer, type AddressInfo } from 'node:net';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { cpuNs, startBenchProxy, writeBenchCertificate } from './proxy-process';
import { printTable } from './table';

/**
 * What a connection costs `gateway proxy` in CPU when its address has opened too many too fast
 * (closed on accept, before TLS) against one it admits (a full TLS 1.3 handshake: ECDHE and an
 * ECDSA P-256 signature). Two proxies, one whose rate limit admits everything and one that has
 * nothing left for 127.0.0.1, each pinned to CPU 1 when taskset is there; the clients are this
 * process. CPU time is the proxy's own (all threads, /proc/<pid>/task/*\/schedstat, ns), so
 * neighbours on the machine disturb it little. Rounds alternate; medians are reported.
 */

const HANDSHAKES = 1500;
const REFUSALS = 6000;
const ROUNDS = 3;
const CONCURRENCY = 8;
const SERVERNAME = '443--bench.bench.test';

const dir = mkdtempSync(join(tmpdir(), 'handshake-bench-'));
const children: ChildProcess[] = [];

/** The ClientHello this process's TLS client sends, caught by a listener that answers nothing. */
async function clientHello(): Promise<Buffer> {
  const catcher = netCreateServer();
  await new Promise<void>((r) => catcher.listen(0, '127.0.0.1', () => r()));
  const first = new Promise<Buffer>((resolve) => catcher.once('connection', (s) => s.once('data', (d: Buffer) => (resolve(d), s.destroy()))));
  const client = tlsConnect({ host: '127.0.0.1', port: (catcher.address() as AddressInfo).port, servername: SERVERNAME, rejectUnauthorized: false });
  client.on('error', () => {});
  const hello = await first;
  client.destroy();
  catcher.close();
  return hello;
}

function handshake(port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    // A new session each time: no resumption, the full cost.
    const socket = tlsConnect({ host: '127.0.0.1', port, servername: SERVERNAME, rejectUnauthorized: false }, () => {
      socket.destroy();
      resolve();
    });
    socket.on('error', reject);
  });
}

/** A ClientHello sent to a proxy that refuses this address: it must close without answering a byte. */
function refused(port: number, hello: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = netConnect(port, '127.0.0.1', () => socket.write(hello));
    socket.on('error', () => {});
    socket.once('data', () => reject(new Error('the proxy answered a connection it should have refused')));
    socket.once('close', () => resolve());
  });
}

async function times(n: number, one: () => Promise<void>): Promise<void> {
  let started = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (started++ < n) await one();
    }),
  );
}

/** The proxy's CPU microseconds per connection over `n` of them. */
async function cpuUsPer(pid: number, n: number, one: () => Promise<void>): Promise<number> {
  const before = cpuNs(pid);
  await times(n, one);
  return (cpuNs(pid) - before) / 1000 / n;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function main(): Promise<void> {
  writeBenchCertificate(dir);
  writeFileSync(join(dir, 'token.pub'), generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'pem' }));
  writeFileSync(join(dir, 'routes.json'), JSON.stringify({ version: '1', routes: [] }));

  const open = await startBenchProxy(dir, ['--new-connections-per-second', '999999999', '--new-connections-burst', '999999999'], children);
  const closed = await startBenchProxy(dir, ['--new-connections-per-second', '1', '--new-connections-burst', '1'], children);
  const hello = await clientHello();
  await handshake(closed.port); // its one connection: from now on 127.0.0.1 gets ~1 a second there
  await times(300, () => handshake(open.port)); // warm-up: JIT, TLS contexts
  await times(1000, () => refused(closed.port, hello).catch(() => {}));

  const full: number[] = [];
  const refusal: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    full.push(await cpuUsPer(open.pid, HANDSHAKES, () => handshake(open.port)));
    refusal.push(await cpuUsPer(closed.pid, REFUSALS, () => refused(closed.port, hello).catch(() => {})));
  }
  const f = median(full);
  const x = median(refusal);
  process.stdout.write(`New connections from one address, ${CONCURRENCY} at a time, ${ROUNDS} rounds (medians); proxy CPU per connection\n\n`);
  printTable(
    ['connection', 'per round', 'proxy CPU µs', 'vs full handshake'],
    [
      ['full TLS 1.3 handshake (ECDHE + ECDSA P-256)', String(HANDSHAKES), f.toFixed(0), '1.00'],
      ['refused for its rate, before TLS', String(REFUSALS), x.toFixed(1), (x / f).toFixed(3)],
    ],
  );
  process.stdout.write(
    `\nrounds (µs): full ${full.map((v) => v.toFixed(0)).join('/')}; refused ${refusal.map((v) => v.toFixed(1)).join('/')}. ` +
      `A handshake costs ${(f / x).toFixed(0)} refusals. Load average at the end: ${loadavg().map((l) => l.toFixed(1)).join(' ')}\n`,
  );
}

main()
  .catch((err) => {
    process.stderr.write(`handshake bench: ${(err as Error).message}\n`);
    process.exitCode = 1;
  })
  .finally(() => {
    for (const c of children) c.kill('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  });
