import { type ChildProcess, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { freePort } from '../../src/server';
import { GatewayMesh, type MeshNode } from './harness/gateway-mesh';
import { lossesNotAtAHandover, silences } from './harness/continuous-ping';
import { Underlay, nsSpawn } from './harness/netns';
import { ping, startEchoServer, tcpEcho, waitFor } from './harness/overlay';
import { describeMesh } from './harness/prerequisites';
import { waitUntil } from '../support/wait';

/**
 * One real mesh, scenarios in order: a gateway (startGateway) on the bridge, two lighthouses,
 * three environments and a proxy in their own namespaces, each enrolled and kept current by
 * `gateway agent`, each running real nebula with a tun device. Certificates live 90 s, so the
 * agents renew them several times while the scenarios run, under a ping that must lose nothing.
 */
describeMesh()('a real mesh run by gateway agents', () => {
  let underlay: Underlay;
  let work: string;
  let mesh: GatewayMesh;
  let lh1: MeshNode, lh2: MeshNode, env1: MeshNode, env2: MeshNode, env3: MeshNode, proxy: MeshNode;
  let steadyPing: SteadyPing;

  beforeAll(async () => {
    underlay = Underlay.create();
    work = mkdtempSync(join(tmpdir(), 'e2e-mesh-'));
    mesh = new GatewayMesh(underlay, work, {
      port: await freePort(),
      dataDir: join(work, 'gateway'),
      dynamodbEndpoint: process.env.AWS_ENDPOINT_URL_DYNAMODB,
      tableName: `e2e-mesh-${process.pid}`,
      overlayCidr: '10.99.0.0/16',
      certificateLifetimeSeconds: 90,
      sweepIntervalMs: 5000,
    });
    await mesh.startGateway();
  }, 60_000);

  afterAll(async () => {
    steadyPing?.child.kill('SIGKILL');
    await mesh?.stop().catch(() => undefined);
    underlay?.destroy();
    if (process.env.KEEP_E2E_DIR) console.log(`e2e work dir kept: ${work}`);
    else rmSync(work, { recursive: true, force: true });
  }, 30_000);

  it('enrolls two lighthouses, three environments and a proxy; environments reach the lighthouses, the proxy reaches the environments', async () => {
    [lh1, lh2] = await Promise.all(['lh1', 'lh2'].map((n) => mesh.enroll(n, 'lighthouse')));
    [env1, env2, env3, proxy] = await Promise.all([
      mesh.enroll('env1', 'environment'),
      mesh.enroll('env2', 'environment'),
      mesh.enroll('env3', 'environment'),
      mesh.enroll('proxy', 'proxy'),
    ]);
    for (const node of mesh.nodes) node.startAgent();
    await Promise.all(mesh.nodes.map((n) => n.waitForEvent('nebula_started', 1, 60_000)));
    for (const env of [env1, env2, env3]) await startEchoServer(env.ns, 8080);

    for (const env of [env1, env2, env3]) {
      for (const lh of [lh1, lh2]) await waitFor(`${env.name} → ${lh.name} over the overlay`, () => ping(env.ns, lh.ip));
      await waitFor(`proxy → ${env.name} over the overlay`, () => ping(proxy.ns, env.ip));
      expect(tcpEcho(proxy.ns, env.ip, 8080)).toBe(true);
    }
    // Ping proxy → env1 every 500 ms through the next scenarios, until well after the
    // certificates both ends enrolled with have expired: the agents renew them inside that
    // window, and hand the tunnels over to the new ones (no restart) before the replaced ones expire.
    const lastExpiry = Math.max(...[proxy, env1].map((n) => Date.parse(String(n.events('renewal_scheduled')[0].notAfter))));
    steadyPing = startSteadyPing(proxy, env1, lastExpiry + 10_000);

    for (const node of mesh.nodes) {
      const logs = readFileSync(`${node.dir}.agent.log`, 'utf8') + readFileSync(join(node.dir, 'nebula.log'), 'utf8');
      expect(logs).not.toMatch(/gw[aeh]_|PRIVATE KEY/);
      expect(logs).not.toContain(readFileSync(join(node.dir, 'host.key'), 'utf8').split('\n')[1]);
    }
  }, 150_000);

  it('keeps environments apart by default: no ping, no TCP from one environment to another', async () => {
    expect(ping(env1.ns, lh1.ip)).toBe(true);
    for (let attempt = 0; attempt < 3; attempt++) expect(ping(env1.ns, env2.ip)).toBe(false);
    expect(tcpEcho(env1.ns, env2.ip, 8080)).toBe(false);
    expect(tcpEcho(env2.ns, env3.ip, 8080)).toBe(false);
    expect(tcpEcho(proxy.ns, env2.ip, 8080)).toBe(true);
  }, 60_000);

  it('keeps the mesh working while the gateway is stopped, and the agents catch up when it is back', async () => {
    const unreachable = new Map(mesh.nodes.map((n) => [n, n.events('api_unreachable').length]));
    // Agents watch the gateway server and poll it as the API while the watch fails (issue 11):
    // whichever answers first after the restart ends the outage for that agent.
    const caughtUp = (n: (typeof mesh.nodes)[number]) => n.events('api_reachable').length + n.events('watch_reachable').length;
    const reachable = new Map(mesh.nodes.map((n) => [n, caughtUp(n)]));
    await mesh.stopGateway();
    for (const node of mesh.nodes) await node.waitForEvent('api_unreachable', (unreachable.get(node) ?? 0) + 1);
    expect(ping(proxy.ns, env2.ip)).toBe(true);
    expect(ping(env2.ns, lh2.ip)).toBe(true);
    expect(tcpEcho(proxy.ns, env3.ip, 8080)).toBe(true);
    expect(mesh.nodes.every((n) => n.agent?.exitCode === null)).toBe(true);

    await mesh.startGateway();
    for (const node of mesh.nodes) {
      await waitUntil(`${node.name} to reach the gateway again (api_reachable + watch_reachable events)`, () => caughtUp(node), (n) => n > (reachable.get(node) ?? 0), { timeoutMs: 60_000, intervalMs: 100 });
    }
    expect(ping(proxy.ns, env3.ip)).toBe(true);
  }, 90_000);

  it('renews the 90-second certificates without losing a ping, and hands the tunnels over to the new ones without restarting nebula', async () => {
    const summary = await steadyPing.result;
    for (const node of [proxy, env1]) {
      const inWindow = (e: { time: string }) => Date.parse(e.time) < summary.endedAt;
      expect(node.events('nebula_reloaded').filter((e) => e.source === 'renewal' && inWindow(e)).length).toBeGreaterThanOrEqual(1);
      // After each renewal the agent closes and re-makes every tunnel through nebula's console, so
      // no tunnel keeps the replaced certificate and the restart before it expires is not needed.
      expect(node.events('tunnels_handed_over').filter(inWindow).length).toBeGreaterThanOrEqual(1);
      expect({ node: node.name, restarts: node.events('nebula_restarted'), failed: node.events('tunnel_handover_failed') }).toEqual({ node: node.name, restarts: [], failed: [] });
    }
    expect(env1.nebulaLog().some((e) => e.msg === 'Client cert refreshed from disk')).toBe(true);
    expect(summary.transmitted).toBeGreaterThan(20);
    // Renewals (SIGHUP, then the handover) and the gateway outage lose nothing but, at most, a brief
    // silence (≤ 1 s) at a handover, one per handover (the last ping may still have been in flight
    // when ping's deadline ended it).
    const lost = summary.lost.filter((gap) => gap.seq < summary.transmitted);
    // A handover under way as the ping ended is logged after it: wait for it before counting.
    for (const node of [proxy, env1]) await node.handoversSettled();
    const handoversAt = [proxy, env1].flatMap((n) => n.events('tunnels_handed_over').map((e) => Date.parse(e.time)));
    expect(lossesNotAtAHandover(lost, handoversAt)).toEqual([]);
    expect(silences(lost)).toBeLessThanOrEqual(handoversAt.length);
  }, 150_000);

  it('revokes an environment: every node blocklists it, tears its tunnels down and refuses new handshakes', async () => {
    for (const peer of [lh1, lh2, proxy]) await waitFor(`${peer.name} ↔ env3`, () => ping(peer.ns, env3.ip));
    const fingerprint = certificateFingerprint(env3);
    // env3 plays a host that ignores its revocation: its agent dies, its nebula keeps running on
    // a certificate that is still unexpired. (An agent that is told it is revoked stops nebula
    // and exits 3: test/agent/agent-run.test.ts.)
    const rogue = env3.nebulaPid();
    await env3.stopAgent('SIGKILL');
    expect(rogue && processAlive(rogue)).toBe(true);

    const revokedAt = Math.floor(Date.now() / 1000) * 1000;
    await mesh.admin('DELETE', `/v1/hosts/${env3.hostId}`);
    const others = mesh.nodes.filter((n) => n !== env3);
    const notBlocking = () => others.filter((n) => !blocklistOf(n).includes(fingerprint)).map((n) => n.name);
    await waitUntil('every node to blocklist env3 (the list: nodes that do not yet)', notBlocking, (names) => names.length === 0, { timeoutMs: 60_000, intervalMs: 250 });
    // Through the watch path (issue 11): each agent long-polls the gateway server and applied the
    // revocation as a delta (the blocklist change alone), reloading its nebula.
    // The agent writes config.yml before it reloads nebula and logs the reload, so wait for the log line too:
    // the config's (a renewal's reload, logged meanwhile, is not the revocation's).
    const reloadsSince = (node: MeshNode) => node.events('nebula_reloaded').filter((e) => Date.parse(String(e.time)) >= revokedAt);
    const configReloaded = (node: MeshNode) => reloadsSince(node).some((e) => e.source === 'config');
    await waitUntil('every node to log the reload of its blocklist (the list: nodes that have not yet)', () => others.filter((n) => !configReloaded(n)).map((n) => n.name), (names) => names.length === 0, {
      timeoutMs: 60_000,
      intervalMs: 100,
    });
    for (const node of others) {
      expect({ node: node.name, applied: reloadsSince(node).map((e) => [e.via, e.kind]) }).toEqual({ node: node.name, applied: expect.arrayContaining([['watch', 'delta']]) });
    }
    for (const peer of [lh1, lh2, proxy]) {
      await waitFor(`${peer.name} to lose its tunnel to env3`, () => !ping(peer.ns, env3.ip, 1), 30_000);
    }
    await waitUntil(
      'lh1 to refuse a handshake from the revoked host (lh1 nebula log since the revocation)',
      () => {
        ping(env3.ns, lh1.ip, 1);
        return lh1.nebulaLog().filter((e) => Date.parse(String(e.time)) >= revokedAt);
      },
      (entries) => entries.some((e) => e.msg === 'Invalid certificate from host' && /block/i.test(String(e.error))),
      { timeoutMs: 30_000, intervalMs: 250 },
    );
    for (const peer of [lh1, lh2, proxy]) {
      expect(ping(peer.ns, env3.ip, 2)).toBe(false);
      expect(ping(env3.ns, peer.ip, 2)).toBe(false);
    }
    expect(tcpEcho(proxy.ns, env3.ip, 8080)).toBe(false);
  }, 150_000);

  it('finds peers through the other lighthouse when one is killed', async () => {
    const lighthousePid = lh1.nebulaPid();
    expect(lighthousePid).toEqual(expect.any(Number));
    await lh1.stopAgent('SIGKILL');
    process.kill(lighthousePid!, 'SIGKILL');
    expect(ping(env1.ns, lh1.ip)).toBe(false);

    const env4 = await mesh.enroll('env4', 'environment');
    env4.startAgent();
    await env4.waitForEvent('nebula_started', 1, 60_000);
    await waitFor('env4 → lh2', () => ping(env4.ns, lh2.ip));
    await waitFor('proxy → env4, found through lh2', () => ping(proxy.ns, env4.ip));
    await startEchoServer(env4.ns, 8080);
    expect(tcpEcho(proxy.ns, env4.ip, 8080)).toBe(true);
  }, 120_000);

});

interface PingSummary {
  readonly transmitted: number;
  readonly received: number;
  /** The pings that got no answer, each with the answers around it (epoch ms; ±Infinity at the ends). */
  readonly lost: LostPing[];
  readonly endedAt: number;
}

interface LostPing {
  readonly seq: number;
  /** When the last answer before it arrived. */
  readonly after: number;
  /** When the first answer after it arrived. */
  readonly before: number;
}

interface SteadyPing {
  readonly child: ChildProcess;
  readonly result: Promise<PingSummary>;
}

/** A ping every 500 ms from `from` to `to` over the overlay, until `endAt` (epoch ms). */
function startSteadyPing(from: MeshNode, to: MeshNode, endAt: number): SteadyPing {
  const seconds = Math.max(5, Math.floor((endAt - Date.now()) / 1000));
  const child = nsSpawn(from.ns, 'ping', ['-D', '-n', '-i', '0.5', '-W', '2', '-w', String(seconds), to.ip], { stdio: ['ignore', 'pipe', 'ignore'] });
  let output = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  const result = new Promise<PingSummary>((resolve, reject) =>
    // 'close', not 'exit': the summary ping prints as it exits may still be in the pipe at 'exit'.
    child.once('close', () => {
      const match = /(\d+) packets transmitted, (\d+) received/.exec(output);
      if (!match) return reject(new Error(`no ping summary in: ${output.slice(-500)}`));
      const transmitted = Number(match[1]);
      const replies = new Map([...output.matchAll(/^\[(\d+\.\d+)\] .*icmp_seq=(\d+) /gm)].map((m) => [Number(m[2]), Number(m[1]) * 1000]));
      resolve({ transmitted, received: Number(match[2]), lost: lostPings(transmitted, replies), endedAt: Date.now() });
    }),
  );
  result.catch(() => undefined);
  return { child, result };
}

/** Unanswered sequence numbers, each between the arrival times of the answers around it. */
function lostPings(transmitted: number, replies: Map<number, number>): LostPing[] {
  const answered = [...replies.keys()].sort((a, b) => a - b);
  const lost: LostPing[] = [];
  for (let seq = 1; seq <= transmitted; seq++) {
    if (replies.has(seq)) continue;
    const previous = answered.filter((n) => n < seq).pop();
    const next = answered.find((n) => n > seq);
    lost.push({ seq, after: previous === undefined ? -Infinity : (replies.get(previous) as number), before: next === undefined ? Infinity : (replies.get(next) as number) });
  }
  return lost;
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function certificateFingerprint(node: MeshNode): string {
  return JSON.parse(execFileSync('nebula-cert', ['print', '-json', '-path', join(node.dir, 'host.crt')], { encoding: 'utf8' })).fingerprint;
}

function blocklistOf(node: MeshNode): string[] {
  const config = parse(readFileSync(join(node.dir, 'config.yml'), 'utf8'), { version: '1.1' });
  return config?.pki?.blocklist ?? [];
}
