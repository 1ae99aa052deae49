import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { appendFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { type Namespace, nsExec, nsSpawn } from './netns';
import type { MeshNode } from './gateway-mesh';

const GATEWAY_BIN = resolve(__dirname, '../../../bin/gateway.js');

/**
 * A "service" namespace reachable ONLY from the egress node: its own veth to the egress node's
 * namespace, no leg on the underlay bridge, no default route (replies go to the egress node,
 * which masquerades the environments' flows behind its link address). Its addresses stand for
 * destinations beyond the egress node, e.g. a database in the company's VPC.
 */
export class EgressService {
  readonly ns: Namespace;
  private readonly servers: ChildProcess[] = [];
  private links = 0;
  private destroyed = false;

  /** Link network between the egress node and the service (/30: .1 egress, .2 service). */
  static readonly LINK = { egress: '10.251.0.1', service: '10.251.0.2' };

  private constructor(
    private readonly prefix: string,
    name: string,
  ) {
    this.ns = { name, ip: EgressService.LINK.service };
  }

  /**
   * Makes the namespace `<prefix>-svc` (the underlay's prefix, so a dead run's leftovers are
   * recognised and removed like the underlay's), links it to `egressNs`, gives it `addresses`
   * (/32s) and routes each address's /24 from the egress node to it.
   */
  static create(prefix: string, egressNs: Namespace, addresses: readonly string[]): EgressService {
    const service = new EgressService(prefix, `${prefix}-svc`);
    ip('netns', 'add', service.ns.name);
    live.add(service);
    const [outer, inner] = [`${prefix}ea`, `${prefix}sa`];
    ip('link', 'add', outer, 'type', 'veth', 'peer', 'name', inner);
    ip('link', 'set', outer, 'netns', egressNs.name);
    ip('link', 'set', inner, 'netns', service.ns.name);
    ip('-n', egressNs.name, 'addr', 'add', `${EgressService.LINK.egress}/30`, 'dev', outer);
    ip('-n', egressNs.name, 'link', 'set', outer, 'up');
    ip('-n', service.ns.name, 'addr', 'add', `${EgressService.LINK.service}/30`, 'dev', inner);
    for (const address of addresses) ip('-n', service.ns.name, 'addr', 'add', `${address}/32`, 'dev', inner);
    ip('-n', service.ns.name, 'link', 'set', inner, 'up');
    ip('-n', service.ns.name, 'link', 'set', 'lo', 'up');
    for (const net of new Set(addresses.map((a) => `${a.split('.').slice(0, 3).join('.')}.0/24`))) {
      ip('-n', egressNs.name, 'route', 'add', net, 'via', EgressService.LINK.service);
    }
    return service;
  }

  /**
   * A plain veth from `ns` straight to the service (no nebula, no egress node): the benchmark's
   * baseline. Returns the service's address on that link.
   */
  addDirectLink(ns: Namespace): string {
    const n = ++this.links;
    const [outer, inner] = [`${this.prefix}d${n}`, `${this.prefix}e${n}`];
    const net = `10.253.${n}`;
    ip('link', 'add', outer, 'type', 'veth', 'peer', 'name', inner);
    ip('link', 'set', outer, 'netns', ns.name);
    ip('link', 'set', inner, 'netns', this.ns.name);
    ip('-n', ns.name, 'addr', 'add', `${net}.1/30`, 'dev', outer);
    ip('-n', ns.name, 'link', 'set', outer, 'up');
    ip('-n', this.ns.name, 'addr', 'add', `${net}.2/30`, 'dev', inner);
    ip('-n', this.ns.name, 'link', 'set', inner, 'up');
    return `${net}.2`;
  }

  /** Keeps a server process of the service, killed by destroy(). */
  track(child: ChildProcess): ChildProcess {
    this.servers.push(child);
    return child;
  }

  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    live.delete(this);
    for (const server of this.servers) server.kill('SIGKILL');
    const pids = spawnSync('ip', ['netns', 'pids', this.ns.name], { encoding: 'utf8' }).stdout ?? '';
    for (const pid of pids.split(/\s+/).filter(Boolean)) {
      try {
        process.kill(Number(pid), 'SIGKILL');
      } catch {
        // already gone
      }
    }
    spawnSync('ip', ['netns', 'del', this.ns.name]);
  }
}

const live = new Set<EgressService>();
process.once('exit', () => {
  for (const service of [...live]) service.destroy();
});

function ip(...args: string[]): void {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

/** One line the egress node wrote: an event (stderr) or a flow log record (stdout). */
export type EgressLine = Record<string, unknown>;

/** `gateway egress run` inside the egress node's namespace; stdout (flow log) and stderr (events) collected. */
export class EgressProcess {
  readonly flows: EgressLine[] = [];
  readonly events: EgressLine[] = [];
  private readonly child: ChildProcess;
  private readonly exited: Promise<number | null>;

  constructor(node: MeshNode, pollSeconds = 1) {
    this.child = nsSpawn(node.ns, process.execPath, [GATEWAY_BIN, 'egress', 'run', '--dir', node.dir, '--poll-seconds', String(pollSeconds), '--log-format', 'json'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    collect(this.child.stdout, this.flows, `${node.dir}.egress-flows.log`);
    collect(this.child.stderr, this.events, `${node.dir}.egress.log`);
    // 'close', not 'exit': its last lines may still be in the pipes at 'exit'. Its conntrack
    // watcher has pipes of its own, so nothing else holds these open.
    this.exited = new Promise((done) => this.child.once('close', (code) => done(code)));
  }

  named(event: string): EgressLine[] {
    return this.events.filter((e) => e.event === event);
  }

  async stop(): Promise<number | null> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGTERM');
    return this.exited;
  }
}

function collect(stream: NodeJS.ReadableStream | null, into: EgressLine[], file: string): void {
  let partial = '';
  stream?.setEncoding('utf8');
  stream?.on('data', (chunk: string) => {
    const parts = (partial + chunk).split('\n');
    partial = parts.pop() ?? '';
    for (const line of parts.filter(Boolean)) {
      appendFileSync(file, `${line}\n`);
      try {
        into.push(JSON.parse(line) as EgressLine);
      } catch {
        into.push({ event: 'raw', line });
      }
    }
  });
}

const HELD_CLIENT = `
const net = require('node:net');
const s = net.connect({ host: process.argv[1], port: Number(process.argv[2]) });
s.setNoDelay(true);
s.on('connect', () => process.stdout.write('connected\\n'));
s.on('data', (d) => process.stdout.write(String(d)));
s.on('error', (e) => process.stdout.write('error ' + e.code + '\\n'));
s.on('close', () => { process.stdout.write('closed\\n'); process.exit(0); });
process.stdin.on('data', (d) => s.write(d));
`;

/** A TCP connection held open from `ns` to an echo server: send a line, see whether it comes back. */
export class HeldConnection {
  private readonly child: ChildProcess;
  private output = '';
  private sent = 0;

  constructor(ns: Namespace, host: string, port: number) {
    this.child = spawn('ip', ['netns', 'exec', ns.name, process.execPath, '-e', HELD_CLIENT, host, String(port)], { stdio: ['pipe', 'pipe', 'inherit'] });
    this.child.stdout?.setEncoding('utf8').on('data', (chunk: string) => (this.output += chunk));
  }

  get connected(): boolean {
    return this.output.includes('connected\n');
  }

  get closed(): boolean {
    return this.output.includes('closed\n');
  }

  /** Sends a fresh line; returns it so the caller can wait for its echo. */
  send(): string {
    const line = `line-${++this.sent}-${process.hrtime.bigint()}`;
    if (!this.closed) this.child.stdin?.write(`${line}\n`);
    return line;
  }

  echoed(line: string): boolean {
    return this.output.includes(`${line}\n`);
  }

  close(): void {
    this.child.kill('SIGKILL');
  }
}

/** A sysctl inside a namespace (`net.netfilter.…`, per network namespace). */
export function nsSysctl(ns: Namespace, key: string, value: string): void {
  nsExec(ns, 'sysctl', ['-qw', `${key}=${value}`]);
}
