import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parse } from 'yaml';
import { decideNebulaAction } from '../../src/agent/reload-decision';
import { certificateSubnets, chooseEgressNode, type EgressNode, environmentUnsafeRoutes, type NebulaConfigInput, renderNebulaConfig } from '../../src/mesh';
import { describeNeeding } from '../support/prerequisites';
import { waitUntil } from '../support/wait';
import { type HostFiles, NebulaCertFixture, nebulaTest } from './nebula-tools';
import { meshError } from './mesh-error';

const run = promisify(execFile);

/** Which egress node an environment uses, its unsafe_routes as rendered and as nebula 1.6.1 installs them, and when nebula must restart. */

const NODES: EgressNode[] = [
  { hostId: 'h-egress-a', ip: '10.42.0.9' },
  { hostId: 'h-egress-b', ip: '10.42.0.10' },
  { hostId: 'h-egress-c', ip: '10.42.0.11' },
];
const HOSTS = Array.from({ length: 300 }, (_, i) => `h-env-${String(i).padStart(3, '0')}`);

describe('chooseEgressNode', () => {
  it.each([
    ['no node', [], undefined],
    ['one node', [NODES[0]], NODES[0]],
  ])('with %s', (_, nodes, expected) => {
    expect(chooseEgressNode('h-env-001', nodes)).toEqual(expected);
  });

  it('is a function of the host id and the set of nodes, not their order', () => {
    for (const host of HOSTS.slice(0, 50)) {
      const choice = chooseEgressNode(host, NODES);
      expect(chooseEgressNode(host, [...NODES].reverse())).toEqual(choice);
      expect(chooseEgressNode(host, [NODES[1], NODES[2], NODES[0]])).toEqual(choice);
    }
  });

  it('spreads environments over the nodes', () => {
    const counts = new Map(NODES.map((n) => [n.hostId, 0]));
    for (const host of HOSTS) {
      const node = chooseEgressNode(host, NODES) as EgressNode;
      counts.set(node.hostId, (counts.get(node.hostId) ?? 0) + 1);
    }
    // 100 each on average; a fixed hash gives the same counts every run.
    for (const count of counts.values()) expect(count).toBeGreaterThan(70);
  });

  it('moves only the environments of a node that leaves, and only to it those that move when one joins', () => {
    const before = new Map(HOSTS.map((h) => [h, chooseEgressNode(h, NODES)?.hostId]));
    const moved = (nodes: typeof NODES) =>
      HOSTS.map((host) => ({ host, from: before.get(host), to: chooseEgressNode(host, nodes)?.hostId })).filter((m) => m.to !== m.from);
    // Leaving: exactly the environments of the node that left move (and some did).
    const left = moved(NODES.filter((n) => n.hostId !== 'h-egress-b'));
    expect(new Set(left.map((m) => m.from))).toEqual(new Set(['h-egress-b']));
    // Joining: the environments that move all move to the new node (and some did).
    const joined = moved([...NODES, { hostId: 'h-egress-d', ip: '10.42.0.12' }]);
    expect(new Set(joined.map((m) => m.to))).toEqual(new Set(['h-egress-d']));
  });
});

describe('environmentUnsafeRoutes and certificateSubnets', () => {
  it.each([
    ['routes and nodes', ['10.0.0.0/16', '192.168.1.0/24'], NODES, 2],
    ['no routes', [], NODES, 0],
    ['no active egress node', ['10.0.0.0/16'], [], 0],
  ])('%s', (_, routes, nodes, count) => {
    const unsafe = environmentUnsafeRoutes('h-env-001', routes, nodes);
    expect(unsafe).toHaveLength(count);
    const via = chooseEgressNode('h-env-001', nodes)?.ip;
    expect(unsafe).toEqual(routes.slice(0, count).map((route) => ({ route, via })));
  });

  it.each([
    ['egress', ['10.0.0.0/16'], ['10.0.0.0/16']],
    ['environment', ['10.0.0.0/16'], []],
    ['proxy', ['10.0.0.0/16'], []],
    ['lighthouse', ['10.0.0.0/16'], []],
    ['egress', [], []],
  ] as const)('a %s certificate with routes %j carries subnets %j', (role, routes, subnets) => {
    expect(certificateSubnets(role, routes)).toEqual(subnets);
  });
});

describeNeeding(['nebula', 'nebula-cert'])('rendering unsafe_routes', () => {
  let pki: NebulaCertFixture;
  let env: HostFiles;
  let egress: HostFiles;
  const input = (overrides: Partial<NebulaConfigInput> = {}): NebulaConfigInput => ({
    role: 'environment',
    ca: pki.ca,
    certificate: env.cert,
    keyPath: env.keyPath,
    lighthouses: [],
    blocklist: [],
    policy: { environmentsReachEachOther: false },
    ...overrides,
  });

  beforeAll(async () => {
    pki = await NebulaCertFixture.create();
    env = await pki.sign('env-1', '10.42.1.7/16', ['environment']);
    egress = await pki.sign('egress-1', '10.42.0.9/16', ['egress']);
  });
  afterAll(async () => {
    await pki?.cleanup();
  });

  it('renders each route via its node with the tun MTU, sorted, and nebula -test reads it', async () => {
    const yaml = renderNebulaConfig(input({ mtu: 1400, unsafeRoutes: [{ route: '192.168.1.0/24', via: '10.42.0.9' }, { route: '10.0.0.0/16', via: '10.42.0.9' }] }));
    expect(parse(yaml).tun).toEqual({
      disabled: false,
      dev: 'nebula1',
      mtu: 1400,
      unsafe_routes: [
        { route: '10.0.0.0/16', via: '10.42.0.9', mtu: 1400 },
        { route: '192.168.1.0/24', via: '10.42.0.9', mtu: 1400 },
      ],
    });
    const path = join(pki.dir, 'env-unsafe.yml');
    await writeFile(path, yaml);
    const result = await nebulaTest(path);
    expect(result).toEqual({ ok: true, output: expect.stringContaining('unsafe_routes') });
  });

  it('renders no unsafe_routes key without routes (configs without egress keep their bytes)', () => {
    expect(renderNebulaConfig(input({ unsafeRoutes: [] }))).toBe(renderNebulaConfig(input()));
    expect(parse(renderNebulaConfig(input())).tun).not.toHaveProperty('unsafe_routes');
  });

  it('an egress node gets the egress firewall and no unsafe routes', () => {
    const yaml = parse(renderNebulaConfig(input({ role: 'egress', certificate: egress.cert, keyPath: egress.keyPath })));
    expect(yaml.firewall.inbound).toEqual([
      { port: 'any', proto: 'icmp', host: 'any' },
      { port: 'any', proto: 'any', group: 'environment' },
    ]);
    expect(meshError(() => renderNebulaConfig(input({ role: 'egress', certificate: egress.cert, unsafeRoutes: [{ route: '10.0.0.0/16', via: '10.42.1.7' }] }))).field).toBe(
      'unsafeRoutes',
    );
  });

  it.each([
    ['a route inside the overlay', [{ route: '10.42.5.0/24', via: '10.42.0.9' }], 'unsafeRoutes[0].route'],
    ['a route holding the overlay', [{ route: '10.0.0.0/8', via: '10.42.0.9' }], 'unsafeRoutes[0].route'],
    ['a route with host bits', [{ route: '10.0.0.1/16', via: '10.42.0.9' }], 'unsafeRoutes[0].route'],
    ['a via outside the overlay', [{ route: '10.0.0.0/16', via: '10.99.0.9' }], 'unsafeRoutes[0].via'],
    ['a via that is the network address', [{ route: '10.0.0.0/16', via: '10.42.0.0' }], 'unsafeRoutes[0].via'],
    ['a via that is the host itself', [{ route: '10.0.0.0/16', via: '10.42.1.7' }], 'unsafeRoutes[0].via'],
    ['a via that is no address', [{ route: '10.0.0.0/16', via: 'egress-1' }], 'unsafeRoutes[0].via'],
    ['overlapping routes', [{ route: '10.0.0.0/16', via: '10.42.0.9' }, { route: '10.0.5.0/24', via: '10.42.0.10' }], 'unsafeRoutes[1].route'],
    ['not a list', 'nope', 'unsafeRoutes'],
    ['not an object', ['10.0.0.0/16'], 'unsafeRoutes[0]'],
  ])('refuses %s, naming %s', (_, unsafeRoutes, field) => {
    expect(meshError(() => renderNebulaConfig(input({ unsafeRoutes: unsafeRoutes as never }))).field).toBe(field);
  });
});

/** A netns of this test's own (prefix `egxc`): nebula installs the routes in it, nothing leaves it. */
describeNeeding(['root', 'nebula', 'nebula-cert', 'ip'])('nebula 1.6.1 and unsafe_routes', () => {
  const NS = `egxc${process.pid % 100000}`;
  let pki: NebulaCertFixture;
  let env: HostFiles;
  let nebula: ChildProcess | undefined;
  let output = '';
  const configPath = () => join(pki.dir, 'env.yml');
  const render = (routes: string[], environmentsReachEachOther = false) =>
    renderNebulaConfig({
      role: 'environment',
      ca: pki.ca,
      certificate: env.cert,
      keyPath: env.keyPath,
      lighthouses: [],
      blocklist: [],
      policy: { environmentsReachEachOther },
      tunDevice: 'egxc1',
      unsafeRoutes: routes.map((route) => ({ route, via: '10.42.0.9' })),
    });
  const routes = async () => (await run('ip', ['-n', NS, '-4', 'route', 'show', 'dev', 'egxc1'])).stdout;

  beforeAll(async () => {
    pki = await NebulaCertFixture.create();
    env = await pki.sign('env-1', '10.42.1.7/16', ['environment']);
    await run('ip', ['netns', 'add', NS]);
    await run('ip', ['-n', NS, 'link', 'set', 'lo', 'up']);
  });
  afterAll(async () => {
    nebula?.kill('SIGTERM');
    await run('ip', ['netns', 'del', NS]).catch(() => undefined);
    await pki?.cleanup();
  });

  it('installs each route with the MTU; a SIGHUP does not change them, so the agent restarts nebula for tun.unsafe_routes', async () => {
    const first = render(['172.20.0.0/16']);
    await writeFile(configPath(), first);
    nebula = spawn('ip', ['netns', 'exec', NS, 'nebula', '-config', configPath()], { stdio: ['ignore', 'pipe', 'pipe'] });
    nebula.stdout?.on('data', (chunk) => (output += chunk));
    nebula.stderr?.on('data', (chunk) => (output += chunk));
    await waitUntil('the unsafe route in the namespace', routes, (text) => text.includes('172.20.0.0/16'), { retryOn: () => true });
    expect(await routes()).toMatch(/172\.20\.0\.0\/16 scope link mtu 1300/);

    // The firewall changes too: its reload, registered after the tun device's settings are read,
    // logs when it is done, so the routes are looked at after everything a reload applies.
    const second = render(['172.21.0.0/16'], true);
    await writeFile(configPath(), second);
    nebula.kill('SIGHUP');
    await waitUntil('nebula to reload its firewall', () => output, (text) => text.includes('New firewall has been installed'));
    expect(await routes()).toContain('172.20.0.0/16');
    expect(await routes()).not.toContain('172.21.0.0/16');

    const decision = decideNebulaAction({ config: parse(first), certificateIp: '10.42.1.7/16' }, { config: parse(second), certificateIp: '10.42.1.7/16' });
    expect(decision).toEqual({ action: 'restart', changed: ['firewall.inbound', 'tun.unsafe_routes'] });
  });
});

describeNeeding(['nebula-cert'])('an egress certificate with other subnets', () => {
  let pki: NebulaCertFixture;
  beforeAll(async () => {
    pki = await NebulaCertFixture.create();
  });
  afterAll(async () => {
    await pki?.cleanup();
  });

  const signed = async (name: string, subnets: string) => {
    const crt = join(pki.dir, `${name}.crt`);
    await run('nebula-cert', [
      'sign', '-ca-crt', join(pki.dir, 'ca.crt'), '-ca-key', join(pki.dir, 'ca.key'), '-name', name, '-ip', '10.42.0.9/16',
      '-groups', 'egress', '-duration', '1h', '-out-crt', crt, '-out-key', join(pki.dir, `${name}.key`), ...(subnets ? ['-subnets', subnets] : []),
    ]);
    return (await run('cat', [crt])).stdout;
  };
  const applied = (cert: string) => ({ config: { pki: { cert }, firewall: {} }, certificateIp: '10.42.0.9/16' });

  it('restarts nebula (tunnels keep the certificate they were made with); same subnets in a renewed certificate reload', async () => {
    const a = await signed('egress-a', '10.0.0.0/16');
    const renewed = await signed('egress-a2', '10.0.0.0/16');
    const more = await signed('egress-b', '10.0.0.0/16,192.168.1.0/24');
    const none = await signed('egress-c', '');
    expect(decideNebulaAction(applied(a), applied(more))).toEqual({ action: 'restart', changed: ['pki.cert', 'certificate subnets'] });
    expect(decideNebulaAction(applied(a), applied(none))).toEqual({ action: 'restart', changed: ['pki.cert', 'certificate subnets'] });
    expect(decideNebulaAction(applied(a), applied(renewed))).toEqual({ action: 'reload', changed: ['pki.cert'] });
  });
});
