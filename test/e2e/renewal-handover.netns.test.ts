import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { consoleArgs, readConsole } from '../../src/agent/status-console';
import { NebulaCertificate } from '../../src/pki';
import { freePort } from '../../src/server';
import { waitUntil } from '../support/wait';
import { ContinuousPing, lossesNotAtAHandover, type PingTally, silences } from './harness/continuous-ping';
import { GatewayMesh, type MeshNode } from './harness/gateway-mesh';
import { Underlay, nsExec } from './harness/netns';
import { ping, waitFor } from './harness/overlay';
import { describeMesh } from './harness/prerequisites';

/** Short enough for two renewals each (at 30 s and 60 s) and the replaced certificates' expiry within two minutes. */
const CERT_LIFETIME_S = 45;

/** One command on a node's nebula console (the agent's loopback sshd, the agent's key), run inside its namespace. */
function consoleJson<T>(node: MeshNode, command: string): T {
  return JSON.parse(nsExec(node.ns, 'ssh', consoleArgs(readConsole(node.dir), command))) as T;
}

/** The fingerprint of the certificate a node's nebula runs with (its console's print-cert). */
function runningFingerprint(node: MeshNode): string {
  return consoleJson<{ fingerprint: string }>(node, 'print-cert -json').fingerprint;
}

/** Per peer in a node's hostmap: the fingerprint of the certificate the peer presented in the tunnel's handshake. */
function tunnelFingerprints(node: MeshNode): Record<string, string> {
  const entries = consoleJson<{ vpnIp: string; cert: { fingerprint: string } }[] | null>(node, 'list-hostmap -json') ?? [];
  return Object.fromEntries(entries.map((e) => [e.vpnIp, e.cert.fingerprint]));
}

function fileFingerprint(node: MeshNode): string {
  return NebulaCertificate.fromPem(readFileSync(join(node.dir, 'host.crt'), 'utf8')).fingerprint();
}

/**
 * Ordinary renewals (same key, the agent's default key rotation settings) on a real mesh: a
 * lighthouse, a proxy and an environment run by `gateway agent` with real nebula 1.6.1, pinging
 * one another every 200 ms both ways while each renews its 45-second certificate twice and the
 * replaced certificates expire. After each reload the agent hands every tunnel over to the new
 * certificate through nebula's console (close-tunnel, create-tunnel) instead of restarting nebula
 * before the replaced certificate expires: no ping is lost and nebula keeps its pid.
 */
describeMesh()('renewals hand the tunnels over without restarting nebula', () => {
  let underlay: Underlay;
  let work: string;
  let mesh: GatewayMesh;
  const pings: ContinuousPing[] = [];

  beforeAll(async () => {
    underlay = Underlay.create();
    work = mkdtempSync(join(tmpdir(), 'e2e-handover-'));
    mesh = new GatewayMesh(underlay, work, {
      port: await freePort(),
      dataDir: join(work, 'gateway'),
      dynamodbEndpoint: process.env.AWS_ENDPOINT_URL_DYNAMODB,
      tableName: `e2e-handover-${process.pid}`,
      overlayCidr: '10.94.0.0/16',
      certificateLifetimeSeconds: CERT_LIFETIME_S,
      sweepIntervalMs: 1000,
    });
    await mesh.startGateway();
  }, 60_000);

  afterAll(async () => {
    for (const p of pings) p.kill();
    await mesh?.stop().catch(() => undefined);
    underlay?.destroy();
    if (process.env.KEEP_E2E_DIR) console.log(`e2e work dir kept: ${work}`);
    else rmSync(work, { recursive: true, force: true });
  }, 30_000);

  it('renews twice on every host under pings both ways, losing none; nebula never restarts; every tunnel carries the current certificates', async () => {
    const lh = await mesh.enroll('lh', 'lighthouse');
    const [proxy, env] = await Promise.all([mesh.enroll('px', 'proxy'), mesh.enroll('env', 'environment')]);
    const nodes = [lh, proxy, env];
    for (const node of nodes) node.startAgent();
    await Promise.all(nodes.map((n) => n.waitForEvent('nebula_started', 1, 60_000)));
    const pids = nodes.map((n) => n.nebulaPid());
    const enrolled = nodes.map(fileFingerprint);
    const pairs: [MeshNode, MeshNode][] = nodes.flatMap((from) => nodes.filter((to) => to !== from).map((to): [MeshNode, MeshNode] => [from, to]));
    for (const [from, to] of pairs) await waitFor(`${from.name} → ${to.name} over the overlay`, () => ping(from.ns, to.ip), 30_000);
    for (const [from, to] of pairs) pings.push(new ContinuousPing(from.ns, to.ip, 0.2));

    // Two renewals each, then past the expiry of the certificate the second one replaced (the
    // moment the agent used to restart nebula, and peers would drop a tunnel still carrying it).
    const firstRenewalExpiry = (n: MeshNode) => Date.parse(String(n.events('nebula_reloaded').find((e) => e.source === 'renewal')?.notAfter ?? NaN));
    await waitUntil(
      'two tunnel handovers on every host and the certificates they replaced expired',
      () => nodes.map((n) => ({ node: n.name, handovers: n.events('tunnels_handed_over').length, pastExpiry: Date.now() > firstRenewalExpiry(n) + 3000 })),
      (all) => all.every((n) => n.handovers >= 2 && n.pastExpiry),
      { timeoutMs: 150_000, intervalMs: 500 },
    );

    const tallies: PingTally[] = [];
    for (const p of pings.splice(0)) tallies.push(await p.stop());
    // A handover under way as the pings stopped is logged after it: wait for it before counting.
    for (const node of nodes) await node.handoversSettled();
    console.log(`renewal handover e2e: ${tallies.map((t) => `${t.from} → ${t.to}: ${t.lost.length} of ${t.transmitted} lost${t.gaps.map((g) => ` #${g.seq} (${new Date(g.after).toISOString()} … ${new Date(g.before).toISOString()})`).join('')}`).join('; ')}`);
    expect(Math.min(...tallies.map((t) => t.transmitted))).toBeGreaterThan(300);
    // Numbered pings (the last, in flight at stop, is not counted): none lost but, at most, a brief
    // silence (≤ 1 s) at a handover (see lossesNotAtAHandover), and never more than one silence
    // per handover.
    const handoversAt = nodes.flatMap((n) => n.events('tunnels_handed_over').map((e) => Date.parse(e.time)));
    expect(tallies.map((t) => ({ ping: `${t.from} → ${t.to}`, unexplained: lossesNotAtAHandover(t.gaps, handoversAt) }))).toEqual(
      tallies.map((t) => ({ ping: `${t.from} → ${t.to}`, unexplained: [] })),
    );
    expect(tallies.reduce((sum, t) => sum + silences(t.gaps), 0)).toBeLessThanOrEqual(handoversAt.length);

    // The same nebula throughout: reloads and handovers, no restart, no fallback.
    expect(nodes.map((n) => n.nebulaPid())).toEqual(pids);
    for (const node of nodes) {
      expect({ node: node.name, restarts: node.events('nebula_restarted'), failed: node.events('tunnel_handover_failed'), starts: node.events('nebula_started').length }).toEqual({
        node: node.name,
        restarts: [],
        failed: [],
        starts: 1,
      });
      // The handovers took up the tunnels with both other hosts (one a peer was re-making at that moment is not in that handover's hostmap).
      const others = nodes.filter((n) => n !== node).map((n) => n.ip);
      expect([...new Set(node.events('tunnels_handed_over').flatMap((e) => e.peers as string[]))].sort()).toEqual(others.sort());
      expect(node.events('nebula_reloaded').filter((e) => e.source === 'renewal').length).toBeGreaterThanOrEqual(2);
    }

    // Every tunnel carries the certificates the hosts' nebulas run now, none the enrolled ones.
    const running = Object.fromEntries(nodes.map((n) => [n.ip, runningFingerprint(n)]));
    expect(nodes.map(fileFingerprint)).toEqual(nodes.map((n) => running[n.ip]));
    expect(nodes.map((n) => running[n.ip]).filter((fp) => enrolled.includes(fp))).toEqual([]);
    for (const node of nodes) {
      const peers = Object.fromEntries(nodes.filter((n) => n !== node).map((n) => [n.ip, running[n.ip]]));
      expect({ node: node.name, tunnels: tunnelFingerprints(node) }).toEqual({ node: node.name, tunnels: peers });
    }
  }, 300_000);
});
