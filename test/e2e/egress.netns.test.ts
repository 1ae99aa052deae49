import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { freePort } from '../../src/server';
import { describeNeeding } from '../support/prerequisites';
import { waitUntil } from '../support/wait';
import { EgressProcess, EgressService, HeldConnection, nsSysctl } from './harness/egress';
import { GatewayMesh, type MeshNode } from './harness/gateway-mesh';
import { Underlay, nsExec } from './harness/netns';
import { startEchoServer, tcpEcho, waitFor } from './harness/overlay';
import { MESH_PREREQUISITES } from './harness/prerequisites';

/** The service's addresses: only the egress node routes to them (harness/egress.ts). */
const ALLOWED = '10.250.0.10';
const OTHER = '10.250.0.20';
/** Outside the network's egress routes: reachable from the egress node, routed to no environment. */
const UNROUTED = '10.252.0.30';
const ROUTES = ['10.250.0.0/24'];
const ACME_RULES = [{ cidr: `${ALLOWED}/32`, proto: 'tcp', ports: '8000' }];

/**
 * Egress through a real egress node: a gateway with one egress route, a lighthouse, an egress
 * node (`gateway agent run` + `gateway egress run`), two environments of acme (one of them with a
 * hand-edited route) and one of globex; a service namespace linked only to the egress node.
 * acme may reach ALLOWED on TCP 8000, globex nothing (no policy).
 */
describeNeeding([...MESH_PREREQUISITES, 'nft', 'conntrack'])('egress through a real egress node, enforced there', () => {
  let underlay: Underlay;
  let work: string;
  let mesh: GatewayMesh;
  let service: EgressService;
  let egress: MeshNode, acme1: MeshNode, acme2: MeshNode, globex: MeshNode;
  let enforcer: EgressProcess;
  let held: HeldConnection | undefined;

  beforeAll(async () => {
    underlay = Underlay.create();
    work = mkdtempSync(join(tmpdir(), 'e2e-egress-'));
    mesh = new GatewayMesh(underlay, work, {
      port: await freePort(),
      dataDir: join(work, 'gateway'),
      dynamodbEndpoint: process.env.AWS_ENDPOINT_URL_DYNAMODB,
      tableName: `e2e-egress-${process.pid}`,
      overlayCidr: '10.77.0.0/16',
      egressRoutes: ROUTES,
    });
    await mesh.startGateway();
  }, 60_000);

  afterAll(async () => {
    held?.close();
    await enforcer?.stop();
    await mesh?.stop().catch(() => undefined);
    service?.destroy();
    underlay?.destroy();
    if (process.env.KEEP_E2E_DIR) console.log(`e2e work dir kept: ${work}`);
    else rmSync(work, { recursive: true, force: true });
  }, 30_000);

  it('brings up the mesh: environments of two organisations route the egress networks through the egress node', async () => {
    await mesh.enroll('lh', 'lighthouse');
    egress = await mesh.enroll('egress', 'egress');
    [acme1, acme2, globex] = await Promise.all([mesh.enroll('acme1', 'environment'), mesh.enroll('acme2', 'environment'), mesh.enroll('globex1', 'environment')]);
    for (const [env, organization] of [[acme1, 'acme'], [acme2, 'acme'], [globex, 'globex']] as const) {
      await mesh.admin('PATCH', `/v1/hosts/${env.hostId}`, { owner: { subject: `${env.name}-owner`, organization } });
    }
    await mesh.admin('PUT', '/v1/egress-policies/acme', { rules: ACME_RULES });

    service = EgressService.create(underlay.prefix, egress.ns, [ALLOWED, OTHER, UNROUTED]);
    for (const port of [8000, 8001]) service.track(await startEchoServer(service.ns, port));

    for (const node of mesh.nodes) node.startAgent();
    await Promise.all(mesh.nodes.map((n) => n.waitForEvent('nebula_started', 1, 60_000)));
    const envConfig = parse(readFileSync(join(acme1.dir, 'config.yml'), 'utf8')) as { tun: { unsafe_routes?: unknown } };
    expect(envConfig.tun.unsafe_routes).toEqual([{ route: ROUTES[0], via: egress.ip, mtu: expect.any(Number) }]);

    // TIME_WAIT would hold a closed flow's conntrack entry (and its flow log line) for two minutes.
    enforcer = new EgressProcess(egress);
    await waitUntil('the egress node applies the rules from the API', () => enforcer.named('egress_rules_applied'), (a) => a.some((e) => e.via === 'api'), { timeoutMs: 30_000, intervalMs: 200 });
    nsSysctl(egress.ns, 'net.netfilter.nf_conntrack_tcp_timeout_time_wait', '1');
    expect(nsExec(egress.ns, 'sysctl', ['-n', 'net.ipv4.ip_forward']).trim()).toBe('1');
  }, 180_000);

  it('lets an environment reach what its organisation may: the allowed address and port, through the egress node', async () => {
    await waitFor(`acme1 → ${ALLOWED}:8000 through the egress node`, () => tcpEcho(acme1.ns, ALLOWED, 8000), 60_000, 500);
    // acme2's first packet waits for its own handshake with the egress node: a wait, not one 3-second try.
    await waitFor(`acme2 → ${ALLOWED}:8000 through the egress node`, () => tcpEcho(acme2.ns, ALLOWED, 8000), 60_000, 500);
  }, 90_000);

  it('refuses another port, another address, another organisation and a hand-edited route; the egress node itself reaches all of them', async () => {
    // The refusals below are the policy's: the egress node reaches every one of these.
    for (const [host, port] of [[ALLOWED, 8001], [OTHER, 8000], [UNROUTED, 8000]] as const) expect(tcpEcho(egress.ns, host, port)).toBe(true);

    expect(tcpEcho(acme1.ns, ALLOWED, 8001)).toBe(false);
    expect(tcpEcho(acme1.ns, OTHER, 8000)).toBe(false);
    expect(tcpEcho(globex.ns, ALLOWED, 8000)).toBe(false);

    const tun = (parse(readFileSync(join(acme2.dir, 'config.yml'), 'utf8')) as { tun: { dev: string } }).tun.dev;
    nsExec(acme2.ns, 'ip', ['route', 'add', `${UNROUTED}/32`, 'via', egress.ip, 'dev', tun, 'onlink']);
    expect(tcpEcho(acme2.ns, UNROUTED, 8000)).toBe(false);
    expect(tcpEcho(acme2.ns, ALLOWED, 8000)).toBe(true);
  }, 90_000);

  it('logs each allowed flow with its host, organisation and bytes, and each refused one', async () => {
    const flows = await waitUntil(
      'flow log lines for acme1 and acme2 → ALLOWED:8000',
      () => enforcer.flows.filter((f) => f.event === 'egress_flow' && f.destination === ALLOWED && f.port === 8000),
      (lines) => [acme1, acme2].every((env) => lines.some((f) => f.hostId === env.hostId)),
      { timeoutMs: 60_000, intervalMs: 500 },
    );
    const first = flows.find((f) => f.hostId === acme1.hostId)!;
    expect(first).toMatchObject({ name: 'acme1', organization: 'acme', source: acme1.ip, proto: 'tcp' });
    expect(first.bytesOut).toBeGreaterThan(0);
    expect(first.bytesIn).toBeGreaterThan(0);
    expect(Date.parse(String(first.end))).toBeGreaterThanOrEqual(Date.parse(String(first.start)));
    expect(enforcer.flows.filter((f) => f.event === 'egress_flow' && (f.hostId === globex.hostId || f.destination === OTHER || f.port === 8001))).toEqual([]);

    const refused = await waitUntil(
      'refusal lines',
      () => enforcer.flows.filter((f) => f.event === 'egress_flow_refused'),
      (lines) => lines.some((f) => f.hostId === globex.hostId) && lines.some((f) => f.destination === OTHER) && lines.some((f) => f.port === 8001),
      { timeoutMs: 30_000, intervalMs: 500 },
    );
    expect(refused.find((f) => f.hostId === globex.hostId)).toMatchObject({ organization: 'globex', destination: ALLOWED, port: 8000, proto: 'tcp' });
  }, 90_000);

  it('applies a policy change within a poll, without restarting nebula; an allowed open connection keeps working and one no longer allowed is cut', async () => {
    const pids = [egress, acme1].map((n) => n.nebulaPid());
    held = new HeldConnection(acme1.ns, ALLOWED, 8000);
    await waitFor('the held connection is open', () => held!.connected);
    const before = held.send();
    await waitFor('the held connection echoes', () => held!.echoed(before));

    await mesh.admin('PUT', '/v1/egress-policies/acme', { rules: [...ACME_RULES, { cidr: `${OTHER}/32`, proto: 'tcp', ports: '8000' }] });
    await waitFor(`acme1 → ${OTHER}:8000 after the policy allows it`, () => tcpEcho(acme1.ns, OTHER, 8000), 30_000, 250);
    const across = held.send();
    await waitFor('the held connection still echoes after the change', () => held!.echoed(across));
    expect(held.closed).toBe(false);

    await mesh.admin('PUT', '/v1/egress-policies/acme', { rules: [{ cidr: `${OTHER}/32`, proto: 'tcp', ports: '8000' }] });
    await waitFor(`acme1 → ${ALLOWED}:8000 refused after the policy drops it`, () => !tcpEcho(acme1.ns, ALLOWED, 8000), 30_000, 250);
    await waitFor('the held connection to the address no longer allowed is cut', () => (held!.send(), held!.closed), 30_000, 500);
    expect(tcpEcho(acme1.ns, OTHER, 8000)).toBe(true);

    expect([egress, acme1].map((n) => n.nebulaPid())).toEqual(pids);
    // The egress node loads the ruleset and cuts the flows before it logs them applied: wait for that line.
    await waitUntil('the egress node to log the narrowed policy applied (its last egress_rules_applied)', () => enforcer.named('egress_rules_applied').at(-1), (e) => e?.rules === 1, { timeoutMs: 30_000, intervalMs: 200 });
    expect(enforcer.named('egress_rules_applied').at(-1)).toMatchObject({ via: 'api', organizations: 2, rules: 1 });
    expect(Number(enforcer.named('egress_rules_applied').at(-1)?.flowsCut)).toBeGreaterThanOrEqual(1);
  }, 120_000);

  it('keeps enforcing the last rules when the API is down, also after a restart', async () => {
    await mesh.stopGateway();
    expect(await enforcer.stop()).toBe(0);
    enforcer = new EgressProcess(egress);
    await waitUntil('the egress node applies the saved rules', () => enforcer.named('egress_rules_applied'), (a) => a.some((e) => e.via === 'disk'), { timeoutMs: 30_000, intervalMs: 200 });
    expect(tcpEcho(acme1.ns, OTHER, 8000)).toBe(true);
    expect(tcpEcho(acme1.ns, ALLOWED, 8000)).toBe(false);
    expect(tcpEcho(globex.ns, OTHER, 8000)).toBe(false);
    expect(enforcer.named('egress_rules_unavailable').length).toBeGreaterThanOrEqual(1);
  }, 90_000);
});
