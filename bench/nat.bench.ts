/**
 * NAT traversal, timed for real in network namespaces (the mesh of test/e2e/nat.netns.test.ts): a
 * lighthouse on the underlay, environment E1 behind a port-preserving NAT, E2 behind a symmetric
 * NAT, the proxy behind a port-preserving NAT of its own; all enrolled and run by gateway agents.
 *
 * Time to first packet: the proxy's tunnel to the environment is closed on both ends (nebula's
 * console, `close-tunnel`), then one ping from the proxy; its round trip carries the handshake
 * (nebula holds the packet until the tunnel is up). Directly to E1 against through the lighthouse
 * relay to E2, alternating, in the same run; medians; each sample's path is checked in the proxy's
 * hostmap (a sample on the wrong path fails the run). The NAT mappings stay warm between samples
 * (a re-handshake, as after a tunnel's idle timeout): a fresh tunnel, not a first contact. A
 * direct handshake is one round trip; a relayed one also asks the lighthouse for the relay and
 * goes out on nebula's next handshake retry (its timer steps 100 ms, 200 ms, …), which is most of
 * its time.
 *
 * Run as root: npx tsx bench/nat.bench.ts (or npm run bench nat / npm run bench mesh). Starts its own DynamoDB Local.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { peersFromHostmap } from '../src/agent/status';
import { consoleArgs, readConsole } from '../src/agent/status-console';
import { freePort } from '../src/server';
import { GatewayMesh, type MeshNode } from '../test/e2e/harness/gateway-mesh';
import { NatLan } from '../test/e2e/harness/nat';
import { Underlay } from '../test/e2e/harness/netns';
import { ping, waitFor } from '../test/e2e/harness/overlay';
import { MESH_PREREQUISITES } from '../test/e2e/harness/prerequisites';
import { missingPrerequisites } from '../test/support/prerequisites';
import { printTable } from './table';

const SAMPLES = 9;

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

function run(ns: string, command: string, args: string[], timeoutMs = 15_000): Promise<{ code: number; stdout: string }> {
  return new Promise((done) =>
    execFile('ip', ['netns', 'exec', ns, command, ...args], { encoding: 'utf8', timeout: timeoutMs }, (error, stdout) => done({ code: error ? 1 : 0, stdout })),
  );
}

/** One console command on `node`'s nebula, from inside its namespace. */
async function consoleRun(node: MeshNode, command: string): Promise<string> {
  const result = await run(node.ns.name, 'ssh', consoleArgs(readConsole(node.dir), command));
  if (result.code !== 0) throw new Error(`${node.name}: console '${command}' failed: ${result.stdout}`);
  return result.stdout;
}

/** The proxy's path to `peer` in its hostmap now. */
async function pathTo(proxy: MeshNode, peer: MeshNode): Promise<string> {
  const peers = peersFromHostmap(await consoleRun(proxy, 'list-hostmap -json'), new Map(), new Date());
  return peers.find((p) => p.overlayIp === peer.ip)?.path ?? 'none';
}

/** Closes the tunnel on both ends, waits until neither holds it, then times one ping's round trip (ms). */
async function firstPacket(proxy: MeshNode, peer: MeshNode, expected: 'direct' | 'relayed'): Promise<number> {
  // Closing one end first can let a packet from the other (a keepalive, a relay's control
  // message) bring the tunnel back before that end closes too, which a loaded machine makes
  // likely: close again whichever end still holds it until neither does.
  await waitFor(
    `${peer.name}'s tunnel closed at both ends`,
    async () => {
      const held = [(await pathTo(proxy, peer)) !== 'none', (await pathTo(peer, proxy)) !== 'none'];
      if (held[0]) await consoleRun(proxy, `close-tunnel ${peer.ip}`);
      if (held[1]) await consoleRun(peer, `close-tunnel ${proxy.ip}`);
      return !held[0] && !held[1];
    },
    30_000,
    100,
  );
  const result = await run(proxy.ns.name, 'ping', ['-c', '1', '-n', '-W', '5', peer.ip]);
  const rtt = /time=([\d.]+) ms/.exec(result.stdout)?.[1];
  if (result.code !== 0 || rtt === undefined) throw new Error(`no answer from ${peer.name}: ${result.stdout}`);
  const path = await pathTo(proxy, peer);
  if (path !== expected) throw new Error(`the tunnel to ${peer.name} came up ${path}, not ${expected}`);
  return Number(rtt);
}

async function main(): Promise<void> {
  const missing = missingPrerequisites([...MESH_PREREQUISITES, 'iptables', 'ssh']);
  if (missing.length > 0) {
    console.error(`nat bench needs ${missing.join(', ')}`);
    process.exitCode = 1;
    return;
  }
  const underlay = Underlay.create();
  const work = mkdtempSync(join(tmpdir(), 'nat-bench-'));
  const mesh = new GatewayMesh(underlay, work, { port: await freePort(), dataDir: join(work, 'gateway'), overlayCidr: '10.252.0.0/16', certificateLifetimeSeconds: 3600 });
  const lans = [NatLan.create(underlay, 'nate1', 'port-preserving', 21), NatLan.create(underlay, 'nate2', 'symmetric', 22), NatLan.create(underlay, 'natpx', 'port-preserving', 23)];
  try {
    await mesh.startGateway();
    const lighthouse = await mesh.enroll('lh', 'lighthouse');
    const [e1, e2, proxy] = await Promise.all([lans[0].enroll(mesh, 'e1', 'environment'), lans[1].enroll(mesh, 'e2', 'environment'), lans[2].enroll(mesh, 'proxy', 'proxy')]);
    for (const node of mesh.nodes) node.startAgent();
    await Promise.all(mesh.nodes.map((n) => n.waitForEvent('nebula_started', 1, 60_000)));
    for (const node of [e1, e2, proxy]) await waitFor(`${node.name} → lighthouse`, () => ping(node.ns, lighthouse.ip), 30_000);
    for (const env of [e1, e2]) await waitFor(`proxy → ${env.name}`, () => ping(proxy.ns, env.ip), 30_000);

    const direct: number[] = [];
    const relayed: number[] = [];
    for (let i = 0; i < SAMPLES; i++) {
      direct.push(await firstPacket(proxy, e1, 'direct'));
      relayed.push(await firstPacket(proxy, e2, 'relayed'));
    }
    const base = median(direct);
    const fmt = (ms: number) => `${ms.toFixed(2)} ms`;
    console.log(`${SAMPLES} samples each, alternating; first ping's round trip after closing the tunnel at both ends; ratio = median / direct median`);
    printTable(
      ['time to first packet', 'median', 'min', 'max', 'ratio'],
      [
        ['direct (E1, port-preserving NAT, hole punched)', fmt(base), fmt(Math.min(...direct)), fmt(Math.max(...direct)), '1.00'],
        ['relayed (E2, symmetric NAT, via the lighthouse)', fmt(median(relayed)), fmt(Math.min(...relayed)), fmt(Math.max(...relayed)), (median(relayed) / base).toFixed(2)],
      ],
    );
    console.log(`samples (ms): direct ${direct.map((x) => x.toFixed(2)).join(', ')}; relayed ${relayed.map((x) => x.toFixed(2)).join(', ')}`);
  } finally {
    await mesh.stop().catch(() => undefined);
    for (const lan of lans) lan.destroy();
    underlay.destroy();
    rmSync(work, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
