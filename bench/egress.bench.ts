/**
 * Egress through a real egress node, in network namespaces:
 * - throughput: a bulk TCP transfer (iperf3, one stream, TRANSFER_SECONDS) from an environment to
 *   the service namespace through nebula and the egress node (unsafe route, nftables policy,
 *   masquerade), against the same transfer over a plain veth between the same two namespaces and
 *   to the egress node itself over nebula (nebula's own cost, so the egress node's is the rest),
 *   measured in the same run, with the UDP datagrams the kernel dropped for a full socket buffer;
 * - enforcement time: `PUT /v1/egress-policies/{organization}` until the first connection the new
 *   policy allows succeeds, and until the first one it refuses is refused (a prober in the
 *   environment tries every 50 ms), with `gateway egress run` at its default poll interval.
 * Medians over several runs.
 *
 * iperf3 (Debian `iperf3`), not a Node sender: on 2 cores a Node client and sink took CPU from
 * nebula and capped the veth baseline (760 MiB/s against iperf3's 1,000 to 1,500).
 *
 * Run as root: npx tsx bench/egress.bench.ts (or npm run bench egress; npm run bench mesh runs it too).
 */
import { type ChildProcess, execFile, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { DEFAULT_POLL_SECONDS } from '../src/egress';
import { freePort } from '../src/server';
import { EgressProcess, EgressService } from '../test/e2e/harness/egress';
import { GatewayMesh } from '../test/e2e/harness/gateway-mesh';
import { type Namespace, Underlay } from '../test/e2e/harness/netns';
import { startEchoServer, waitFor } from '../test/e2e/harness/overlay';
import { MESH_PREREQUISITES } from '../test/e2e/harness/prerequisites';
import { missingPrerequisites } from '../test/support/prerequisites';
import { printTable } from './table';

const TRANSFER_SECONDS = 5;
const TRANSFER_RUNS = 3;
const POLICY_RUNS = 7;
const TARGET_RATIO = 0.5;
const SERVICE = '10.250.0.10';
const SINK_PORT = 5201;
const ECHO_PORT = 8000;
const ROUTES = ['10.250.0.0/24'];

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

/** Connects to host:port every 50 ms; prints `<epoch ms> ok|refused` each time the outcome changes. */
const PROBER = `
const net = require('node:net');
const [host, port] = [process.argv[1], Number(process.argv[2])];
let last;
function report(state) { if (state !== last) { last = state; process.stdout.write(Date.now() + ' ' + state + '\\n'); } }
function attempt() {
  const s = net.connect({ host, port, timeout: 1000 });
  const done = (state) => { s.destroy(); report(state); setTimeout(attempt, 50); };
  s.once('connect', () => done('ok'));
  s.once('timeout', () => done('refused'));
  s.once('error', () => done('refused'));
}
attempt();
`;

/** iperf3's server in `ns` on SINK_PORT (all addresses); resolves once it listens. */
async function startSink(ns: Namespace): Promise<ChildProcess> {
  const child = spawn('ip', ['netns', 'exec', ns.name, 'iperf3', '--server', '--port', String(SINK_PORT), '--forceflush'], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`iperf3 server in ${ns.name} exited with ${code}`)));
    child.stdout?.setEncoding('utf8').on('data', (d: string) => d.includes('Server listening') && resolve());
  });
  return child;
}

/** MiB/s the sink received in one TRANSFER_SECONDS transfer from `ns` to host (one TCP stream). */
function transfer(ns: Namespace, host: string, seconds = TRANSFER_SECONDS): Promise<number> {
  return new Promise((resolve, reject) => {
    const args = ['netns', 'exec', ns.name, 'iperf3', '--client', host, '--port', String(SINK_PORT), '--time', String(seconds), '--json', '--connect-timeout', '3000'];
    execFile('ip', args, { timeout: (seconds + 30) * 1000 }, (error, stdout) => {
      const received = error ? undefined : (JSON.parse(stdout) as { end?: { sum_received?: { bits_per_second?: number } } }).end?.sum_received?.bits_per_second;
      if (received === undefined) reject(new Error(`transfer to ${host} failed`, { cause: error ?? stdout }));
      else resolve(received / 8 / (1 << 20));
    });
  });
}

/** UDP datagrams the kernel dropped in `ns` because a socket's receive buffer was full (nebula's, here). */
function udpReceiveBufferDrops(ns: Namespace): number {
  const snmp = spawnSync('ip', ['netns', 'exec', ns.name, 'cat', '/proc/net/snmp'], { encoding: 'utf8' }).stdout;
  const [names, values] = snmp.split('\n').filter((line) => line.startsWith('Udp:')).map((line) => line.split(' '));
  return Number(values[names.indexOf('RcvbufErrors')]);
}

class Prober {
  private readonly child: ChildProcess;
  private readonly changes: Array<{ at: number; state: string }> = [];

  constructor(ns: Namespace, host: string, port: number) {
    this.child = spawn('ip', ['netns', 'exec', ns.name, process.execPath, '-e', PROBER, host, String(port)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let partial = '';
    this.child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      const lines = (partial + chunk).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) {
        const [at, state] = line.split(' ');
        this.changes.push({ at: Number(at), state });
      }
    });
  }

  /** Milliseconds from `since` (epoch ms) until the prober first saw `state` after it. */
  async until(state: string, since: number): Promise<number> {
    const giveUpAt = Date.now() + 60_000;
    for (;;) {
      const change = this.changes.find((c) => c.at >= since && c.state === state);
      if (change) return change.at - since;
      if (Date.now() > giveUpAt) throw new Error(`prober saw no ${state} within 60 s`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  stop(): void {
    this.child.kill('SIGKILL');
  }
}

async function main(): Promise<void> {
  const missing = missingPrerequisites([...MESH_PREREQUISITES, 'nft', 'conntrack']);
  if (spawnSync('iperf3', ['--version']).status !== 0) missing.push('iperf3 (Debian iperf3)');
  if (missing.length > 0) {
    console.error(`egress bench needs ${missing.join(', ')}`);
    process.exitCode = 1;
    return;
  }
  const underlay = Underlay.create();
  const work = mkdtempSync(join(tmpdir(), 'egress-bench-'));
  const mesh = new GatewayMesh(underlay, work, { port: await freePort(), dataDir: join(work, 'gateway'), tableName: `bench-egress-${process.pid}`, overlayCidr: '10.77.0.0/16', egressRoutes: ROUTES });
  let service: EgressService | undefined;
  let enforcer: EgressProcess | undefined;
  let prober: Prober | undefined;
  try {
    await mesh.startGateway();
    await mesh.enroll('lh', 'lighthouse');
    const egress = await mesh.enroll('egress', 'egress');
    const env = await mesh.enroll('env', 'environment');
    await mesh.admin('PATCH', `/v1/hosts/${env.hostId}`, { owner: { subject: 'bench', organization: 'acme' } });
    await mesh.admin('PUT', '/v1/egress-policies/acme', { rules: [{ cidr: `${SERVICE}/32`, proto: 'tcp', ports: String(SINK_PORT) }] });
    service = EgressService.create(underlay.prefix, egress.ns, [SERVICE]);
    const direct = service.addDirectLink(env.ns);
    service.track(await startSink(service.ns));
    // The same sink on the egress node itself: nebula's own cost, without forwarding, policy or NAT.
    service.track(await startSink(egress.ns));
    service.track(await startEchoServer(service.ns, ECHO_PORT));
    for (const node of mesh.nodes) node.startAgent();
    await Promise.all(mesh.nodes.map((n) => n.waitForEvent('nebula_started', 1, 60_000)));
    enforcer = new EgressProcess(egress, DEFAULT_POLL_SECONDS);
    await waitFor('the sink answers through the egress node', async () => (await transfer(env.ns, SERVICE, 1).catch(() => 0)) > 0, 60_000, 500);

    const plain: number[] = [];
    const nebulaOnly: number[] = [];
    const overlay: number[] = [];
    const dropsBefore = udpReceiveBufferDrops(env.ns) + udpReceiveBufferDrops(egress.ns);
    const loadBefore = loadavg()[0];
    for (let i = 0; i < TRANSFER_RUNS; i++) {
      plain.push(await transfer(env.ns, direct));
      nebulaOnly.push(await transfer(env.ns, egress.ip));
      overlay.push(await transfer(env.ns, SERVICE));
    }
    const drops = udpReceiveBufferDrops(env.ns) + udpReceiveBufferDrops(egress.ns) - dropsBefore;
    const loadAfter = loadavg()[0];
    const nebulaConfig = readFileSync(join(egress.dir, 'config.yml'), 'utf8');

    prober = new Prober(env.ns, SERVICE, ECHO_PORT);
    await prober.until('refused', 0);
    const allow: number[] = [];
    const refuse: number[] = [];
    const sinkRule = { cidr: `${SERVICE}/32`, proto: 'tcp', ports: String(SINK_PORT) };
    // A random pause before each change, so that changes fall anywhere in the node's poll period
    // (changing right after the prober saw the last one would phase-lock with the polls).
    const pause = () => new Promise((r) => setTimeout(r, Math.random() * DEFAULT_POLL_SECONDS * 1000));
    for (let i = 0; i < POLICY_RUNS; i++) {
      await pause();
      let since = Date.now();
      await mesh.admin('PUT', '/v1/egress-policies/acme', { rules: [sinkRule, { cidr: `${SERVICE}/32`, proto: 'tcp', ports: String(ECHO_PORT) }] });
      allow.push(await prober.until('ok', since));
      await pause();
      since = Date.now();
      await mesh.admin('PUT', '/v1/egress-policies/acme', { rules: [sinkRule] });
      refuse.push(await prober.until('refused', since));
    }

    const base = median(plain);
    const tunnel = median(nebulaOnly);
    const through = median(overlay);
    const policyTarget = DEFAULT_POLL_SECONDS * 1000 + 1000;
    const { listen, tun } = parse(nebulaConfig) as { listen: Record<string, unknown>; tun: Record<string, unknown> };
    console.log(`iperf3 ${TRANSFER_SECONDS} s × ${TRANSFER_RUNS} (one TCP stream), policy changes × ${POLICY_RUNS}, egress poll ${DEFAULT_POLL_SECONDS} s; medians`);
    console.log(`nebula: tun.mtu ${String(tun.mtu)}, listen.read_buffer ${String(listen.read_buffer)}, listen.write_buffer ${String(listen.write_buffer)}; load average ${loadBefore.toFixed(1)} → ${loadAfter.toFixed(1)} on ${availableParallelism()} cores`);
    printTable(
      ['measure', 'median', 'target', 'vs plain veth', 'vs nebula only', 'met'],
      [
        ['baseline: plain veth environment → service', `${base.toFixed(0)} MiB/s`, '—', '1.00', '—', ''],
        ['environment → nebula → egress node itself (no forwarding)', `${tunnel.toFixed(0)} MiB/s`, '—', (tunnel / base).toFixed(2), '1.00', ''],
        ['environment → nebula → egress node → service', `${through.toFixed(0)} MiB/s`, `≥ ${TARGET_RATIO} × plain veth`, (through / base).toFixed(2), (through / tunnel).toFixed(2), through / base >= TARGET_RATIO ? 'yes' : 'no'],
        ['policy PUT → first allowed connection', `${median(allow).toFixed(0)} ms`, `≤ ${policyTarget} ms`, '—', '—', median(allow) <= policyTarget ? 'yes' : 'no'],
        ['policy PUT → first refused connection', `${median(refuse).toFixed(0)} ms`, `≤ ${policyTarget} ms`, '—', '—', median(refuse) <= policyTarget ? 'yes' : 'no'],
      ],
    );
    console.log(`samples: plain ${plain.map((x) => x.toFixed(0)).join(', ')} MiB/s; nebula only ${nebulaOnly.map((x) => x.toFixed(0)).join(', ')} MiB/s; through egress ${overlay.map((x) => x.toFixed(0)).join(', ')} MiB/s; UDP datagrams dropped for a full socket buffer (environment + egress node) ${drops}; allow ${allow.join(', ')} ms; refuse ${refuse.join(', ')} ms`);
  } finally {
    prober?.stop();
    await enforcer?.stop();
    await mesh.stop().catch(() => undefined);
    service?.destroy();
    underlay.destroy();
    rmSync(work, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
