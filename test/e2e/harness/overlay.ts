import { spawnSync, type ChildProcess } from 'node:child_process';
import { waitUntil } from '../../support/wait';
import { type Namespace, nsSpawn } from './netns';

/** One ICMP echo from `from` to `ip` (over the overlay when `ip` is an overlay address). */
export function ping(from: Namespace, ip: string, timeoutSeconds = 1): boolean {
  return spawnSync('ip', ['netns', 'exec', from.name, 'ping', '-c', '1', '-n', '-q', '-W', String(timeoutSeconds), ip], { stdio: 'ignore' }).status === 0;
}

const ECHO_SERVER = `
const net = require('node:net');
net.createServer((s) => s.pipe(s)).listen(Number(process.argv[1]), '0.0.0.0', () => process.stdout.write('listening\\n'));
`;

const ECHO_CLIENT = `
const net = require('node:net');
const [host, port] = [process.argv[1], Number(process.argv[2])];
const s = net.connect({ host, port, timeout: 3000 });
s.on('connect', () => s.write('over the overlay'));
s.on('data', (d) => { process.stdout.write(String(d)); process.exit(String(d) === 'over the overlay' ? 0 : 1); });
s.on('timeout', () => process.exit(2));
s.on('error', () => process.exit(3));
`;

/** A TCP echo server in `ns` on `port` (all addresses); resolves once it listens. */
export async function startEchoServer(ns: Namespace, port: number): Promise<ChildProcess> {
  const child = nsSpawn(ns, process.execPath, ['-e', ECHO_SERVER, String(port)], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`echo server in ${ns.name} exited with ${code}`)));
    child.stdout?.once('data', () => resolve());
  });
  return child;
}

/** Opens a TCP connection from `from` to `ip:port` and checks the echo; false on refusal or timeout. */
export function tcpEcho(from: Namespace, ip: string, port: number): boolean {
  return spawnSync('ip', ['netns', 'exec', from.name, process.execPath, '-e', ECHO_CLIENT, ip, String(port)], { stdio: 'ignore', timeout: 10_000 }).status === 0;
}

/** Polls `check` until it holds (test/support/wait.ts: the deadline only bounds the wait). */
export async function waitFor(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 20_000, intervalMs = 250): Promise<void> {
  await waitUntil(what, check, Boolean, { timeoutMs, intervalMs });
}
