import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { freePort } from '../../src/server';
import { describeNeeding } from '../support/prerequisites';
import { waitUntil } from '../support/wait';
import { EgressProcess, EgressService } from './harness/egress';
import { type AgentEvent, GatewayMesh, type MeshNode } from './harness/gateway-mesh';
import { Underlay } from './harness/netns';
import { startEchoServer, tcpEcho, waitFor } from './harness/overlay';
import { MESH_PREREQUISITES } from './harness/prerequisites';

/** In the first egress route from the start. */
const FIRST = '10.250.0.10';
/** In a network that becomes an egress route only during the test. */
const LATER = '10.253.0.30';
const FIRST_ROUTES = ['10.250.0.0/24'];

const changedOf = (event: AgentEvent | undefined) => (event as { changed?: string[] } | undefined)?.changed ?? [];

/**
 * Changing the network's egress routes with real nebula: the control plane's side of egress. A
 * route added while everything runs reaches the environment (its nebula restarts: 1.6 reads
 * unsafe_routes only at start) and the egress node (a new certificate carrying the route, and a
 * restart: its firewall keeps the old certificate's subnets over a reload), without anyone
 * touching a host. Namespaces and underlay from the harness (unique prefix); nothing leaves them.
 */
describeNeeding([...MESH_PREREQUISITES, 'nft', 'conntrack'])('egress routes changed while the mesh runs', () => {
  let underlay: Underlay;
  let work: string;
  let mesh: GatewayMesh;
  let service: EgressService;
  let egress: MeshNode, env: MeshNode;
  let enforcer: EgressProcess;

  beforeAll(async () => {
    underlay = Underlay.create();
    work = mkdtempSync(join(tmpdir(), 'e2e-egress-routes-'));
    mesh = new GatewayMesh(underlay, work, {
      port: await freePort(),
      dataDir: join(work, 'gateway'),
      dynamodbEndpoint: process.env.AWS_ENDPOINT_URL_DYNAMODB,
      tableName: `e2e-egress-routes-${process.pid}`,
      overlayCidr: '10.78.0.0/16',
      egressRoutes: FIRST_ROUTES,
    });
    await mesh.startGateway();
  }, 60_000);

  afterAll(async () => {
    await enforcer?.stop();
    await mesh?.stop().catch(() => undefined);
    service?.destroy();
    underlay?.destroy();
    if (process.env.KEEP_E2E_DIR) console.log(`e2e work dir kept: ${work}`);
    else rmSync(work, { recursive: true, force: true });
  }, 30_000);

  it('a route added at run time: the environment and the egress node restart nebula by themselves, and the new network is reached', async () => {
    await mesh.enroll('lh', 'lighthouse');
    egress = await mesh.enroll('egress', 'egress');
    env = await mesh.enroll('env', 'environment');
    await mesh.admin('PATCH', `/v1/hosts/${env.hostId}`, { owner: { subject: 'alice', organization: 'acme' } });
    await mesh.admin('PUT', '/v1/egress-policies/acme', { rules: [{ cidr: `${FIRST}/32`, proto: 'tcp', ports: '8000' }] });
    service = EgressService.create(underlay.prefix, egress.ns, [FIRST, LATER]);
    service.track(await startEchoServer(service.ns, 8000));
    for (const node of mesh.nodes) node.startAgent();
    await Promise.all(mesh.nodes.map((n) => n.waitForEvent('nebula_started', 1, 60_000)));
    enforcer = new EgressProcess(egress);
    await waitFor(`env → ${FIRST}:8000 through the egress node`, () => tcpEcho(env.ns, FIRST, 8000), 60_000, 500);
    // The egress node reaches LATER; the environment has no route to it yet.
    expect(tcpEcho(egress.ns, LATER, 8000)).toBe(true);
    expect(tcpEcho(env.ns, LATER, 8000)).toBe(false);

    await mesh.admin('PUT', '/v1/network/egress-routes', { routes: [...FIRST_ROUTES, '10.253.0.0/24'] });
    await mesh.admin('PUT', '/v1/egress-policies/acme', { rules: [{ cidr: `${FIRST}/32`, proto: 'tcp', ports: '8000' }, { cidr: `${LATER}/32`, proto: 'tcp', ports: '8000' }] });

    await waitFor(`env → ${LATER}:8000 once the new route is everywhere`, () => tcpEcho(env.ns, LATER, 8000), 90_000, 500);
    expect(tcpEcho(env.ns, FIRST, 8000)).toBe(true);

    const envConfig = parse(readFileSync(join(env.dir, 'config.yml'), 'utf8')) as { tun: { unsafe_routes: { route: string; via: string }[] } };
    expect(envConfig.tun.unsafe_routes.map((r) => [r.route, r.via])).toEqual([['10.250.0.0/24', egress.ip], ['10.253.0.0/24', egress.ip]]);
    // Each agent logs its restart once nebula runs again, which may be just after the first packet passed.
    await waitUntil('the environment restarted nebula for its unsafe_routes', () => env.events('nebula_restarted').map(changedOf), (c) => c.some((changed) => changed.includes('tun.unsafe_routes')));
    await waitUntil('the egress node restarted nebula for its new subnets', () => egress.events('nebula_restarted').map(changedOf), (c) => c.some((changed) => changed.includes('certificate subnets')));
    await waitUntil('the egress node to apply the feed with both routes', () => enforcer.named('egress_rules_applied'), (a) => a.some((e) => e.rules === 2), { timeoutMs: 30_000, intervalMs: 200 });
  }, 240_000);
});
