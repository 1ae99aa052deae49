import type { ChildProcess } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as netCreateServer, type AddressInfo, type Socket } from 'node:net';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { cpuNs, startBenchProxy, writeBenchCertificate } from './proxy-process';
import { printTable } from './table';

/**
 * What a client that sends its bytes in tiny TLS records costs `gateway proxy` while they wait
 * behind a request the environment has not answered (pipelined input, buffered up to 64 KiB):
 * the same 60 KiB sent as 4-byte records against one write, on one connection each, alternating.
 * CPU time is the proxy's own (all threads, /proc/<pid>/task/*\/schedstat), pinned to CPU 1 when
 * taskset is there; the client is this process.
 */

const BYTES = 60 * 1024;
const TINY = 4;
const ROUNDS = 5;
const SERVERNAME_PREFIX = '--bench.bench.test';

const dir = mkdtempSync(join(tmpdir(), 'tiny-records-bench-'));
const children: ChildProcess[] = [];

function write(socket: TLSSocket, data: Buffer): Promise<void> {
  return new Promise((resolve, reject) => socket.write(data, (err) => (err ? reject(err) : resolve())));
}

/**
 * One connection: a request the environment never answers, then BYTES more in records of
 * `recordBytes` (each write awaited, so each is its own record); the proxy CPU it cost, in µs.
 */
async function cost(proxy: { pid: number; port: number }, hostName: string, recordBytes: number): Promise<number> {
  const socket = await new Promise<TLSSocket>((resolve, reject) => {
    const s = tlsConnect({ host: '127.0.0.1', port: proxy.port, servername: hostName, rejectUnauthorized: false }, () => resolve(s));
    s.on('error', reject);
  });
  socket.setNoDelay(true);
  await write(socket, Buffer.from(`GET /hang HTTP/1.1\r\nHost: ${hostName}\r\n\r\n`));
  await new Promise((r) => setTimeout(r, 50));
  const before = cpuNs(proxy.pid);
  const piece = Buffer.alloc(recordBytes, 'a');
  for (let sent = 0; sent < BYTES; sent += recordBytes) await write(socket, piece);
  // The proxy reads what was sent: wait until its CPU stops moving.
  let last = cpuNs(proxy.pid);
  for (;;) {
    await new Promise((r) => setTimeout(r, 100));
    const now = cpuNs(proxy.pid);
    if (now - last < 1_000_000) break;
    last = now;
  }
  const used = (cpuNs(proxy.pid) - before) / 1000;
  socket.destroy();
  return used;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function main(): Promise<void> {
  writeBenchCertificate(dir);
  writeFileSync(join(dir, 'token.pub'), generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'pem' }));
  // An environment that reads and never answers.
  const held: Socket[] = [];
  const env = netCreateServer((s) => {
    held.push(s);
    s.resume();
  });
  await new Promise<void>((r) => env.listen(0, '127.0.0.1', () => r()));
  const envPort = (env.address() as AddressInfo).port;
  const owner = { subject: 'bench', organization: 'bench' };
  writeFileSync(join(dir, 'routes.json'), JSON.stringify({ version: '1', routes: [{ hostId: 'bench', ip: '127.0.0.1', owner, ports: [{ port: envPort, access: 'public', protocol: 'http' }] }] }));
  const hostName = `${envPort}${SERVERNAME_PREFIX}`;
  const proxy = await startBenchProxy(dir, [], children);
  await cost(proxy, hostName, 1024); // warm-up: JIT, TLS contexts

  const whole: number[] = [];
  const tiny: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    whole.push(await cost(proxy, hostName, BYTES));
    tiny.push(await cost(proxy, hostName, TINY));
  }
  const w = median(whole);
  const t = median(tiny);
  const records = BYTES / TINY;
  process.stdout.write(`${BYTES / 1024} KiB pipelined behind an unanswered request, ${ROUNDS} rounds (medians); proxy CPU per connection\n\n`);
  printTable(
    ['sent as', 'records', 'proxy CPU µs', 'µs per record', 'vs one write'],
    [
      ['one write', '4', w.toFixed(0), '—', '1.00'],
      [`${TINY}-byte records`, String(records), t.toFixed(0), (t / records).toFixed(2), (t / w).toFixed(1)],
    ],
  );
  process.stdout.write(
    `\nrounds (µs): one write ${whole.map((v) => v.toFixed(0)).join('/')}; tiny ${tiny.map((v) => v.toFixed(0)).join('/')}. Load average at the end: ${loadavg().map((l) => l.toFixed(1)).join(' ')}\n`,
  );
  for (const s of held) s.destroy();
  env.close();
}

main()
  .catch((err) => {
    process.stderr.write(`tiny-records bench: ${(err as Error).message}\n`);
    process.exitCode = 1;
  })
  .finally(() => {
    for (const c of children) c.kill('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  });
