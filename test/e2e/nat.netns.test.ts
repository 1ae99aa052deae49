import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { AgentStatus, PeerStatus } from '../../src/agent/status';
import { freePort } from '../../src/server';
import { describeNeeding } from '../support/prerequisites';
import { waitUntil } from '../support/wait';
import { GatewayMesh, type MeshNode } from './harness/gateway-mesh';
import { NatLan } from './harness/nat';
import { type Namespace, Underlay } from './harness/netns';
import { ping, startEchoServer, tcpEcho, waitFor } from './harness/overlay';
import { MESH_PREREQUISITES } from './harness/prerequisites';

const GATEWAY_BIN = resolve(__dirname, '../../bin/gateway.js');

/**
 * NAT traversal with real nebula 1.6.1: a lighthouse on the underlay (public), environment E1
 * behind a port-preserving NAT, E2 behind a symmetric NAT (`MASQUERADE --random-fully`), and the
 * proxy behind a port-preserving NAT of its own; the gateway API on the underlay bridge, reached
 * through the NATs. The proxy reaches E1 directly once the lighthouse has had both sides punch
 * holes, and E2 only through the lighthouse as a relay (the configs the API renders make
 * lighthouses relays and every other host use them); `gateway agent status` in the proxy's
 * namespace says so per peer, from nebula's own hostmap.
 */
describeNeeding([...MESH_PREREQUISITES, 'iptables', 'ssh'])('NAT traversal: direct after hole punching, relayed through the lighthouse where the NAT is symmetric', () => {
  let underlay: Underlay;
  let work: string;
  let mesh: GatewayMesh;
  const lans: NatLan[] = [];
  let lighthouse: MeshNode, e1: MeshNode, e2: MeshNode, proxy: MeshNode;

  beforeAll(async () => {
    underlay = Underlay.create();
    work = mkdtempSync(join(tmpdir(), 'e2e-nat-'));
    mesh = new GatewayMesh(underlay, work, {
      port: await freePort(),
      dataDir: join(work, 'gateway'),
      dynamodbEndpoint: process.env.AWS_ENDPOINT_URL_DYNAMODB,
      tableName: `e2e-nat-${process.pid}`,
      overlayCidr: '10.97.0.0/16',
      certificateLifetimeSeconds: 3600,
    });
    await mesh.startGateway();
  }, 60_000);

  afterAll(async () => {
    await mesh?.stop().catch(() => undefined);
    for (const lan of lans) lan.destroy();
    underlay?.destroy();
    if (process.env.KEEP_E2E_DIR) console.log(`e2e work dir kept: ${work}`);
    else rmSync(work, { recursive: true, force: true });
  }, 30_000);

  it('enrolls hosts behind three NATs through them; the proxy reaches both environments over the overlay (ping and TCP)', async () => {
    const natE1 = NatLan.create(underlay, 'nate1', 'port-preserving', 11);
    const natE2 = NatLan.create(underlay, 'nate2', 'symmetric', 12);
    const natProxy = NatLan.create(underlay, 'natpx', 'port-preserving', 13);
    lans.push(natE1, natE2, natProxy);
    lighthouse = await mesh.enroll('lh', 'lighthouse');
    [e1, e2, proxy] = await Promise.all([natE1.enroll(mesh, 'e1', 'environment'), natE2.enroll(mesh, 'e2', 'environment'), natProxy.enroll(mesh, 'proxy', 'proxy')]);
    for (const node of mesh.nodes) node.startAgent();
    await Promise.all(mesh.nodes.map((n) => n.waitForEvent('nebula_started', 1, 60_000)));
    for (const node of [e1, e2, proxy]) await waitFor(`${node.name} → lighthouse over the overlay`, () => ping(node.ns, lighthouse.ip), 30_000);

    for (const env of [e1, e2]) {
      await startEchoServer(env.ns, 8080);
      await waitFor(`proxy → ${env.name} over the overlay`, () => ping(proxy.ns, env.ip), 30_000);
      expect(tcpEcho(proxy.ns, env.ip, 8080)).toBe(true);
    }
    // The hosts behind NAT really are: their underlay is a private LAN, and the environments
    // cannot be reached there from the proxy's LAN.
    expect(e1.ns.ip).toMatch(/^192\.168\.11\./);
    expect(ping(proxy.ns, e1.ns.ip)).toBe(false);
  }, 180_000);

  it("keeps E1's tunnel direct to its NAT's public address and E2's relayed through the lighthouse, as nebula's hostmap shows", async () => {
    const natE1 = lans[0];
    const status = await waitUntil(
      'the proxy to hold tunnels to E1 and E2 (gateway agent status --json, peers)',
      () => agentStatus(proxy),
      (s) => [e1, e2].every((env) => s.peers.some((p) => p.overlayIp === env.ip && p.path !== 'pending')),
      { timeoutMs: 30_000, intervalMs: 500 },
    );
    const toE1 = peer(status, e1);
    const toE2 = peer(status, e2);
    expect(toE1).toMatchObject({ name: 'e1', path: 'direct', via: [] });
    // Direct to the address E1's NAT gives it on the underlay, the port kept.
    expect(toE1.remote).toMatch(new RegExp(`^${escape(natE1.router.ip)}:\\d+$`));
    expect(toE2).toMatchObject({ name: 'e2', path: 'relayed', via: [lighthouse.ip] });
    expect(toE2.remote).toBeUndefined();
    // The lighthouse's own hostmap: it relays for the proxy and E2.
    const atLighthouse = await agentStatus(lighthouse);
    expect(peer(atLighthouse, proxy).relaying).toContain(e2.ip);
    expect(peer(atLighthouse, e2).relaying).toContain(proxy.ip);

    // Traffic still flows both ways on those paths.
    expect(tcpEcho(proxy.ns, e2.ip, 8080)).toBe(true);
    expect(ping(proxy.ns, e1.ip)).toBe(true);
  }, 60_000);

  it('gateway agent status shows per peer the last handshake and the certificate life, and this host\'s own certificate, nebula pid and config', async () => {
    const status = await agentStatus(proxy);
    const started = Date.parse(String(proxy.events('nebula_started')[0].time));
    for (const env of [e1, e2]) {
      const p = peer(status, env);
      expect(Date.parse(String(p.lastHandshakeAt))).toBeGreaterThanOrEqual(started - 1000);
      expect(Date.parse(String(p.lastHandshakeAt))).toBeLessThanOrEqual(Date.now());
      // Certificates live an hour here: the peer's is the one nebula holds for the tunnel.
      expect(p.certificateRemainingSeconds).toBeGreaterThan(3000);
      expect(p.certificateRemainingSeconds).toBeLessThanOrEqual(3600);
    }
    expect(status).toMatchObject({ hostId: proxy.hostId, overlayIp: proxy.ip, nebula: { running: true, pid: proxy.nebulaPid() } });
    expect(status.certificate.source).toBe('nebula');
    expect(status.certificate.remainingSeconds).toBeGreaterThan(3000);
    expect(status.config.writtenAt).toBe(statSync(join(proxy.dir, 'config.yml')).mtime.toISOString());

    const text = await runStatus(proxy, []);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(new RegExp(`^${escape(e2.ip)}\\s+e2\\s+relayed via ${escape(lighthouse.ip)}\\s+-\\s+\\S+`, 'm'));
    expect(text.stdout).toMatch(new RegExp(`^${escape(e1.ip)}\\s+e1\\s+direct\\s+${escape(lans[0].router.ip)}:\\d+`, 'm'));
    expect(text.stdout).toMatch(/^nebula\s+running, pid \d+$/m);
  }, 60_000);

  it("the API's host record shows when each agent was last seen, its version and nebula's (from the agents' User-Agent)", async () => {
    const { version } = JSON.parse(readFileSync(resolve(__dirname, '../../package.json'), 'utf8')) as { version: string };
    for (const node of [proxy, e1, e2, lighthouse]) {
      const { host } = await mesh.admin<{ host: Record<string, unknown> }>('GET', `/v1/hosts/${node.hostId}`);
      expect(host).toMatchObject({ agentVersion: version, nebulaVersion: '1.6.1' });
      expect(Date.parse(String(host.lastSeenAt))).toBeGreaterThanOrEqual(Date.parse(String(node.events('agent_started')[0].time)) - 1000);
    }
  }, 30_000);

  it("nebula's console listens on loopback only, with keys only the agent's directory holds (0600)", async () => {
    const config = readFileSync(join(proxy.dir, 'config.yml'), 'utf8');
    expect(config).toMatch(/^sshd:\n(?: {2}.*\n)*? {2}listen: 127\.0\.0\.1:\d+$/m);
    const listening = await nsOutput(proxy.ns, 'ss', ['-Hltn']);
    const port = /listen: 127\.0\.0\.1:(\d+)/.exec(config)?.[1];
    expect(listening).toContain(`127.0.0.1:${port}`);
    expect(listening).not.toMatch(new RegExp(`(?:0\\.0\\.0\\.0|\\*|\\[::\\]):${port}\\b`));
    for (const file of ['host_key', 'client_key', 'console.json']) expect(statSync(join(proxy.dir, 'console', file)).mode & 0o777).toBe(0o600);
    // Without the agent's key, the console refuses (here: the lighthouse's key at the proxy's console).
    const foreign = { ...JSON.parse(readFileSync(join(proxy.dir, 'console', 'console.json'), 'utf8')), clientKeyPath: join(lighthouse.dir, 'console', 'client_key') };
    const refused = await consoleOutput(proxy.ns, foreign);
    expect(refused).toMatch(/did not answer/);
  }, 30_000);

  it('reports a stopped nebula and exits 1', async () => {
    await e1.stopAgent();
    const result = await runStatus(e1, ['--json']);
    expect(result.code).toBe(1);
    expect(JSON.parse(result.stdout)).toMatchObject({ nebula: { running: false }, peers: [], peersUnavailable: 'nebula is not running', certificate: { source: 'config' } });
  }, 30_000);
});

function peer(status: AgentStatus, node: MeshNode): PeerStatus {
  const found = status.peers.find((p) => p.overlayIp === node.ip);
  if (!found) throw new Error(`no peer ${node.name} (${node.ip}) in ${JSON.stringify(status.peers)}`);
  return found;
}

/** `gateway agent status --dir <node dir> --json` inside the node's namespace. */
async function agentStatus(node: MeshNode): Promise<AgentStatus> {
  const result = await runStatus(node, ['--json']);
  if (result.code !== 0) throw new Error(`gateway agent status in ${node.name} exited ${result.code}: ${result.stdout}${result.stderr}`);
  return JSON.parse(result.stdout) as AgentStatus;
}

function runStatus(node: MeshNode, extra: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) =>
    execFile('ip', ['netns', 'exec', node.ns.name, process.execPath, GATEWAY_BIN, 'agent', 'status', '--dir', node.dir, ...extra], { encoding: 'utf8', timeout: 30_000 }, (error, stdout, stderr) =>
      done({ code: error ? Number((error as { code?: unknown }).code ?? 1) : 0, stdout, stderr }),
    ),
  );
}

function nsOutput(ns: Namespace, command: string, args: string[]): Promise<string> {
  return new Promise((done, fail) => execFile('ip', ['netns', 'exec', ns.name, command, ...args], { encoding: 'utf8' }, (error, stdout) => (error ? fail(error) : done(stdout))));
}

/** Runs consoleCommand with `settings` from inside `ns` (the console listens on that namespace's loopback); resolves to its output or error message. */
async function consoleOutput(ns: Namespace, settings: Record<string, unknown>): Promise<string> {
  const script = `require('tsx/cjs/api').register();
const { consoleCommand } = require(${JSON.stringify(resolve(__dirname, '../../src/agent/status-console.ts'))});
consoleCommand(${JSON.stringify(settings)}, 'list-hostmap -json').then((o) => process.stdout.write(o), (e) => process.stdout.write(e.message));`;
  return nsOutput(ns, process.execPath, ['-e', script]);
}

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
