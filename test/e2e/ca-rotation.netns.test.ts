import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { NebulaCertificate, parseCertificateBundle } from '../../src/pki';
import { freePort } from '../../src/server';
import { waitUntil } from '../support/wait';
import { ContinuousPing, lossesNotAtAHandover, type PingTally, silences } from './harness/continuous-ping';
import { GatewayMesh, type MeshNode } from './harness/gateway-mesh';
import { Underlay } from './harness/netns';
import { ping, waitFor } from './harness/overlay';
import { describeMesh } from './harness/prerequisites';

/** Short enough that every host renews (and its old certificate expires) within the rotation. */
const CERT_LIFETIME_S = 60;
const DISTRIBUTE_S = 10;
/** Between agent starts: renewals (every 20 s here) then fall at different moments. */
const STAGGER_MS = 6000;

/** The CAs a host's nebula trusts, from its config file (fingerprints). */
function trustedCas(node: MeshNode): string[] {
  const config = parse(readFileSync(join(node.dir, 'config.yml'), 'utf8')) as { pki: { ca: string } };
  return parseCertificateBundle(config.pki.ca).map((c) => c.fingerprint());
}

/** The CA that signed the host's current certificate (fingerprint). */
function issuerOf(node: MeshNode): string {
  return NebulaCertificate.fromPem(readFileSync(join(node.dir, 'host.crt'), 'utf8')).details.issuer;
}

/**
 * A CA rotation on a real mesh: a gateway (startGateway on the bridge), a lighthouse, a proxy and
 * an environment, each run by `gateway agent` with real nebula 1.6.1 in its namespace, pinging one
 * another every 200 ms for the whole rotation; certificates live 60 s so hosts renew onto the new
 * CA within it. A fourth host sleeps (agent and nebula stopped) through the whole overlap. Every
 * phase is a config change the agents apply with a reload (SIGHUP: nebula 1.6 reloads `pki.ca`
 * and keeps its tunnels), never a restart.
 */
describeMesh()('CA rotation with overlap on a real mesh', () => {
  let underlay: Underlay;
  let work: string;
  let mesh: GatewayMesh;
  let lh: MeshNode, proxy: MeshNode, env: MeshNode, sleeper: MeshNode;
  const pings: ContinuousPing[] = [];

  beforeAll(async () => {
    underlay = Underlay.create();
    work = mkdtempSync(join(tmpdir(), 'e2e-ca-rotation-'));
    mesh = new GatewayMesh(underlay, work, {
      port: await freePort(),
      dataDir: join(work, 'gateway'),
      dynamodbEndpoint: process.env.AWS_ENDPOINT_URL_DYNAMODB,
      tableName: `e2e-ca-rotation-${process.pid}`,
      overlayCidr: '10.97.0.0/16',
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

  it('rotates the CA under continuous pings, losing none to the rotation; every host ends on the new CA alone; a host that slept through it must re-enroll', async () => {
    // Default agent settings: renewals keep the key; after each reload the agent hands every
    // tunnel over to the new certificate through nebula's console (packets wait in nebula's
    // handshake queue) instead of restarting nebula before the replaced certificate expires.
    // Hosts start a few seconds apart, so renewals fall at different moments.
    const start = async (node: MeshNode) => {
      node.startAgent();
      await node.waitForEvent('nebula_started', 1, 60_000);
      await new Promise((r) => setTimeout(r, STAGGER_MS));
    };
    lh = await mesh.enroll('lh', 'lighthouse');
    [proxy, env, sleeper] = await Promise.all([mesh.enroll('proxy', 'proxy'), mesh.enroll('env', 'environment'), mesh.enroll('sleeper', 'environment')]);
    for (const node of [lh, proxy, env, sleeper]) await start(node);
    // Traffic the hosts originate: to the lighthouse, and between the proxy and the environment
    // both ways. (A lighthouse's own pings are left out: nebula 1.6's lighthouse forgets a host's
    // address when their tunnel is closed, until the host handshakes again; the hosts nudge it at
    // once, but a lighthouse's own pings may still wait for that.)
    const pairs: [MeshNode, MeshNode][] = [
      [proxy, lh],
      [env, lh],
      [proxy, env],
      [env, proxy],
    ];
    for (const [from, to] of pairs) await waitFor(`${from.name} → ${to.name} over the overlay`, () => ping(from.ns, to.ip), 30_000);
    await waitFor('sleeper → lh over the overlay', () => ping(sleeper.ns, lh.ip), 30_000);
    // The sleeper's agent stops its nebula too: it is offline for the whole rotation.
    expect(await sleeper.stopAgent()).toBe(0);

    const before = await mesh.admin<{ caFingerprints: string[] }>('GET', '/v1/network');
    const [oldCa] = before.caFingerprints;
    for (const [from, to] of pairs) pings.push(new ContinuousPing(from.ns, to.ip, 0.2));

    const started = await mesh.admin<{ caRotation: { phase: string; newCa: { fingerprint: string } } }>('POST', '/v1/network/ca-rotation', { distributeSeconds: DISTRIBUTE_S });
    expect(started.caRotation.phase).toBe('distributing');
    const newCa = started.caRotation.newCa.fingerprint;
    const awake = [lh, proxy, env];

    // Every phase is seen by the hosts: first both CAs, then the new one alone.
    await waitUntil('every awake host to trust both CAs', () => awake.map(trustedCas), (all) => all.every((cas) => cas.includes(oldCa) && cas.includes(newCa)), { timeoutMs: 30_000, intervalMs: 200 });
    await waitUntil('the rotation to sign with the new CA', () => mesh.admin<{ caRotation: { phase: string } }>('GET', '/v1/network'), (n) => n.caRotation.phase === 'signing', { timeoutMs: 60_000, intervalMs: 500 });
    await waitUntil('every awake host to hold a certificate of the new CA', () => awake.map(issuerOf), (issuers) => issuers.every((i) => i === newCa), { timeoutMs: 120_000, intervalMs: 500 });
    const done = await waitUntil(
      'the rotation to end',
      () => mesh.admin<{ caRotation: { phase: string }; caFingerprints: string[] }>('GET', '/v1/network'),
      (n) => n.caRotation.phase === 'idle',
      { timeoutMs: 300_000, intervalMs: 1000 },
    );
    expect(done.caFingerprints).toEqual([newCa]);
    await waitUntil('the old CA to leave every awake host\'s config', () => awake.map(trustedCas), (all) => all.every((cas) => cas.length === 1 && cas[0] === newCa), { timeoutMs: 30_000, intervalMs: 200 });
    // The agent writes config.yml before it reloads nebula and logs the reload: wait for that line too.
    const caReloads = () => awake.map((n) => n.events('nebula_reloaded').filter((e) => (e.changed as string[]).includes('pki.ca')).length);
    await waitUntil('every awake host to log the reload that dropped the old CA (pki.ca reloads per host)', caReloads, (counts) => counts.every((c) => c >= 2), { timeoutMs: 30_000, intervalMs: 100 });
    for (const [from, to] of pairs) await waitFor(`${from.name} → ${to.name} after the rotation`, () => ping(from.ns, to.ip), 30_000);

    const tallies: PingTally[] = [];
    for (const p of pings.splice(0)) tallies.push(await p.stop());
    // A handover under way as the pings stopped is logged after it: wait for it before counting.
    for (const node of awake) await node.handoversSettled();
    expect(Math.min(...tallies.map((t) => t.transmitted))).toBeGreaterThan(100);
    console.log(`CA rotation e2e: ${tallies.map((t) => `${t.from} → ${t.to}: ${t.lost.length} of ${t.transmitted} lost`).join('; ')}`);
    // Nothing is lost around the rotation's own changes (a reload on both ends of a ping at each
    // bundle change), nor at the renewals onto the new CA (reload, then the tunnel handover) but,
    // at most, a brief silence (≤ 1 s) at a handover (see lossesNotAtAHandover).
    const handoversAt = awake.flatMap((n) => n.events('tunnels_handed_over').map((e) => Date.parse(e.time)));
    expect(tallies.map((t) => ({ ping: `${t.from} → ${t.to}`, unexplained: lossesNotAtAHandover(t.gaps, handoversAt) }))).toEqual(
      tallies.map((t) => ({ ping: `${t.from} → ${t.to}`, unexplained: [] })),
    );
    expect(tallies.reduce((sum, t) => sum + silences(t.gaps), 0)).toBeLessThanOrEqual(handoversAt.length);
    expect(awake.map(issuerOf)).toEqual([newCa, newCa, newCa]);
    // Every bundle change was a reload and every renewal handed its tunnels over: nebula ran on through the whole rotation.
    expect(awake.map((n) => ({ node: n.name, restarts: n.events('nebula_restarted').length, handoverFailures: n.events('tunnel_handover_failed').length }))).toEqual(awake.map((n) => ({ node: n.name, restarts: 0, handoverFailures: 0 })));
    expect(awake.every((n) => n.events('tunnels_handed_over').length >= 1)).toBe(true);
    expect(caReloads()).toEqual([2, 2, 2]);

    // The sleeper wakes with a certificate of the retired CA: the gateway refuses to renew it and
    // its agent exits 3 saying it must re-enroll.
    sleeper.startAgent();
    expect(await sleeper.waitForAgentExit()).toBe(3);
    const rejected = sleeper.events('host_rejected');
    expect(rejected).toEqual([expect.objectContaining({ status: 403, error: expect.stringMatching(/re-enroll/) })]);

    // Re-enrolled with a new token (the old host revoked, a new one made in its namespace), it rejoins.
    await mesh.admin('DELETE', `/v1/hosts/${sleeper.hostId}`);
    const again = await mesh.admin<{ host: { id: string; ip: string }; enrollment: { token: string } }>('POST', '/v1/hosts', { name: 'sleeper', role: 'environment' });
    const rejoined = await mesh.enrollHost({ name: 'sleeper-again', role: 'environment', ns: sleeper.ns, hostId: again.host.id, ip: again.host.ip, token: again.enrollment.token });
    rejoined.startAgent();
    await rejoined.waitForEvent('nebula_started', 1, 60_000);
    expect(issuerOf(rejoined)).toBe(newCa);
    expect(trustedCas(rejoined)).toEqual([newCa]);
    await waitFor('the re-enrolled sleeper → lh', () => ping(rejoined.ns, lh.ip), 30_000);
    await waitFor('proxy → the re-enrolled sleeper', () => ping(proxy.ns, rejoined.ip), 30_000);
  }, 600_000);
});
