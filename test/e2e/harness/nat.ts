import { execFileSync, spawnSync } from 'node:child_process';
import type { GatewayMesh, MeshNode, Role } from './gateway-mesh';
import type { Namespace, Underlay } from './netns';

/**
 * A NAT router between a private LAN and the test underlay: a namespace on the underlay (its eth0
 * is the LAN's public address) holding a bridge `lan0` for the LAN hosts' veths, forwarding, and
 * iptables MASQUERADE of the LAN behind eth0.
 *
 * - `port-preserving`: plain MASQUERADE. The kernel keeps a host's source port when it can, and
 *   the mapping does not depend on the destination, so a peer that punches the public address the
 *   lighthouse saw gets through (nebula's hole punching works).
 * - `symmetric`: `MASQUERADE --random-fully`. Every new destination gets a new random public port,
 *   so the port the lighthouse saw is useless to anyone else: only a relay reaches the host.
 *
 * Either way unsolicited packets are dropped (conntrack only lets replies in). LAN hosts have the
 * router as their default route: the gateway API on the underlay bridge and the lighthouses'
 * underlay addresses are reached through the NAT, like the internet from an office.
 */
export type NatFlavour = 'port-preserving' | 'symmetric';

export class NatLan {
  private readonly hosts: Namespace[] = [];
  private destroyed = false;

  private constructor(
    /** The router's namespace; its `ip` is the LAN's public (underlay) address. */
    readonly router: Namespace,
    readonly flavour: NatFlavour,
    /** The LAN's first three octets, e.g. `192.168.11`; the router is `.1`. */
    readonly lanPrefix: string,
  ) {}

  /**
   * A router namespace on `underlay` named `<label>`, with the LAN `192.168.<lan>.0/24` behind it.
   * Each LAN of one test needs its own `lan` number, so that a peer never mistakes another LAN's
   * private address (which nebula also advertises) for one of its own.
   */
  static create(underlay: Underlay, label: string, flavour: NatFlavour, lan: number): NatLan {
    if (!Number.isInteger(lan) || lan < 1 || lan > 254) throw new Error(`lan must be 1..254, not ${lan}`);
    const router = underlay.addNamespace(label);
    const nat = new NatLan(router, flavour, `192.168.${lan}`);
    live.add(nat);
    const r = (...args: string[]) => run('ip', ['-n', router.name, ...args]);
    r('link', 'add', 'lan0', 'type', 'bridge');
    r('addr', 'add', `${nat.lanPrefix}.1/24`, 'dev', 'lan0');
    r('link', 'set', 'lan0', 'up');
    inNamespace(router, 'sysctl', ['-q', '-w', 'net.ipv4.ip_forward=1']);
    const masquerade = ['-t', 'nat', '-A', 'POSTROUTING', '-s', `${nat.lanPrefix}.0/24`, '-o', 'eth0', '-j', 'MASQUERADE'];
    inNamespace(router, 'iptables', flavour === 'symmetric' ? [...masquerade, '--random-fully'] : masquerade);
    // A router's own firewall: unsolicited packets from the underlay are dropped before conntrack
    // confirms them. Without this the kernel would keep an entry for such a packet (a peer's early
    // hole punch, arriving before the host's own packet left), and the host's next packet to that
    // peer would then get another public port: no NAT on the internet answers them either.
    inNamespace(router, 'iptables', ['-A', 'INPUT', '-i', 'eth0', '-m', 'conntrack', '--ctstate', 'NEW,INVALID', '-j', 'DROP']);
    inNamespace(router, 'iptables', ['-A', 'FORWARD', '-i', 'eth0', '-m', 'conntrack', '--ctstate', 'NEW,INVALID', '-j', 'DROP']);
    return nat;
  }

  /** A namespace on the LAN (`<router name>-<label>`), eth0 on `lan0`, default route via the router. */
  addHost(label: string): Namespace {
    const index = this.hosts.length + 2;
    if (index > 250) throw new Error('LAN full');
    const ns: Namespace = { name: `${this.router.name}-${label}`, ip: `${this.lanPrefix}.${index}` };
    run('ip', ['netns', 'add', ns.name]);
    this.hosts.push(ns);
    const veth = `lan${index}`;
    run('ip', ['-n', this.router.name, 'link', 'add', veth, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns.name]);
    run('ip', ['-n', this.router.name, 'link', 'set', veth, 'master', 'lan0', 'up']);
    const h = (...args: string[]) => run('ip', ['-n', ns.name, ...args]);
    h('addr', 'add', `${ns.ip}/24`, 'dev', 'eth0');
    h('link', 'set', 'eth0', 'up');
    h('link', 'set', 'lo', 'up');
    h('route', 'add', 'default', 'via', `${this.lanPrefix}.1`);
    return ns;
  }

  /** Creates a host through the gateway's admin API and enrolls it from a new namespace on this LAN. */
  async enroll(mesh: GatewayMesh, name: string, role: Role): Promise<MeshNode> {
    const ns = this.addHost(name);
    const created = await mesh.admin<{ host: { id: string; ip: string }; enrollment: { token: string } }>('POST', '/v1/hosts', { name, role });
    return mesh.enrollHost({ name, role, ns, hostId: created.host.id, ip: created.host.ip, token: created.enrollment.token });
  }

  /** Deletes the LAN's namespaces (their processes killed first); the router goes with the underlay. */
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    live.delete(this);
    for (const ns of this.hosts) {
      const pids = spawnSync('ip', ['netns', 'pids', ns.name], { encoding: 'utf8' }).stdout ?? '';
      for (const pid of pids.split(/\s+/).filter(Boolean)) {
        try {
          process.kill(Number(pid), 'SIGKILL');
        } catch {
          // already gone
        }
      }
      spawnSync('ip', ['netns', 'del', ns.name]);
    }
  }
}

const live = new Set<NatLan>();

function run(command: string, args: string[]): void {
  execFileSync(command, args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

function inNamespace(ns: Namespace, command: string, args: string[]): void {
  run('ip', ['netns', 'exec', ns.name, command, ...args]);
}

/** LAN namespaces are not the underlay's: tear them down at exit too (their names start `ng<pid>`, so a dead run's are removed at the next start). */
process.once('exit', () => {
  for (const nat of [...live]) nat.destroy();
});
