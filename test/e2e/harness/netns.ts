import { execFileSync, spawn, spawnSync, type ChildProcess, type SpawnOptions } from 'node:child_process';

/**
 * Network namespaces joined by a Linux bridge in the root namespace, on a /24 of the underlay
 * 198.18.0.0/15 that no root interface uses yet. Names carry the test process id (`ng<pid><letter>`)
 * so parallel and repeated runs never collide, and leftovers of dead runs are recognisable.
 */
const NAME = /^ng(\d+)[a-z]/;
let created = 0;
const live = new Set<Underlay>();

export interface Namespace {
  /** `ip netns` name. */
  readonly name: string;
  /** Underlay address inside the namespace (eth0). */
  readonly ip: string;
}

export class Underlay {
  readonly prefix: string;
  readonly bridge: string;
  /** The bridge's address: root-namespace services listen here to be reachable from every namespace. */
  readonly bridgeIp: string;
  private readonly subnet: string;
  private readonly namespaces: Namespace[] = [];
  private destroyed = false;

  private constructor(prefix: string, subnet: string) {
    this.prefix = prefix;
    this.subnet = subnet;
    this.bridge = `${prefix}br`;
    this.bridgeIp = `${subnet}.1`;
  }

  /** Removes leftovers of dead runs, then makes the bridge. */
  static create(): Underlay {
    removeStale();
    const prefix = unusedPrefix();
    created++;
    const underlay = new Underlay(prefix, freeSubnet());
    ip('link', 'add', underlay.bridge, 'type', 'bridge');
    live.add(underlay);
    ip('addr', 'add', `${underlay.bridgeIp}/24`, 'dev', underlay.bridge);
    ip('link', 'set', underlay.bridge, 'up');
    return underlay;
  }

  /** A new namespace with eth0 on the bridge and loopback up. */
  addNamespace(label: string): Namespace {
    const index = this.namespaces.length + 2;
    if (index > 250) throw new Error('underlay full');
    const ns: Namespace = { name: `${this.prefix}-${label}`, ip: `${this.subnet}.${index}` };
    const veth = `${this.prefix}v${index}`;
    ip('netns', 'add', ns.name);
    this.namespaces.push(ns);
    ip('link', 'add', veth, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns.name);
    ip('link', 'set', veth, 'master', this.bridge, 'up');
    ip('-n', ns.name, 'addr', 'add', `${ns.ip}/24`, 'dev', 'eth0');
    ip('-n', ns.name, 'link', 'set', 'eth0', 'up');
    ip('-n', ns.name, 'link', 'set', 'lo', 'up');
    return ns;
  }

  /** Kills every process in the namespaces, deletes them and the bridge. Safe to call twice. */
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    live.delete(this);
    for (const ns of this.namespaces) deleteNamespace(ns.name);
    spawnSync('ip', ['link', 'del', this.bridge]);
  }
}

/** Runs a command inside a namespace and waits for it (stdout returned; throws on failure). */
export function nsExec(ns: Namespace, command: string, args: string[], timeoutMs = 15_000): string {
  return execFileSync('ip', ['netns', 'exec', ns.name, command, ...args], { encoding: 'utf8', timeout: timeoutMs, stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Starts a long-running command inside a namespace (`ip netns exec` execs it, so the pid is the command's). */
export function nsSpawn(ns: Namespace, command: string, args: string[], options: SpawnOptions = {}): ChildProcess {
  return spawn('ip', ['netns', 'exec', ns.name, command, ...args], options);
}

function deleteNamespace(name: string): void {
  const pids = spawnSync('ip', ['netns', 'pids', name], { encoding: 'utf8' }).stdout ?? '';
  for (const pid of pids.split(/\s+/).filter(Boolean)) {
    try {
      process.kill(Number(pid), 'SIGKILL');
    } catch {
      // already gone
    }
  }
  spawnSync('ip', ['netns', 'del', name]);
}

/**
 * `ng<pid><letter>` with a letter no link or namespace uses yet. Jest runs several test files in one
 * worker process and gives each a fresh module, so a counter alone would repeat a prefix whose
 * links the kernel may still be tearing down.
 */
function unusedPrefix(): string {
  const names = `${spawnSync('ip', ['-o', 'link'], { encoding: 'utf8' }).stdout}\n${spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout}`;
  for (let i = 0; i < 26; i++) {
    const prefix = `ng${process.pid}${String.fromCharCode(97 + ((created + i) % 26))}`;
    if (!names.includes(prefix)) return prefix;
  }
  throw new Error(`every netns prefix ng${process.pid}[a-z] is in use`);
}

/** Namespaces and bridges named for a process that no longer runs. */
function removeStale(): void {
  const namespaces = (spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout ?? '').split('\n').map((l) => l.split(' ')[0]);
  for (const name of namespaces) {
    const pid = NAME.exec(name)?.[1];
    if (pid && !alive(Number(pid))) deleteNamespace(name);
  }
  const links = (spawnSync('ip', ['-o', 'link', 'show', 'type', 'bridge'], { encoding: 'utf8' }).stdout ?? '').split('\n').map((l) => l.split(': ')[1]?.split('@')[0]);
  for (const link of links) {
    const pid = link && NAME.exec(link)?.[1];
    if (pid && !alive(Number(pid))) spawnSync('ip', ['link', 'del', link]);
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** A /24 in 198.18.0.0/15 that no address or route in the root namespace overlaps. */
function freeSubnet(): string {
  const used = `${spawnSync('ip', ['-4', '-o', 'addr'], { encoding: 'utf8' }).stdout}\n${spawnSync('ip', ['-4', 'route'], { encoding: 'utf8' }).stdout}`;
  const taken = new Set<number>();
  for (const m of used.matchAll(/\b198\.(1[89])\.(\d+)\.\d+(?:\/(\d+))?/g)) {
    const index = (Number(m[1]) - 18) * 256 + Number(m[2]);
    const span = 2 ** Math.max(0, 24 - Math.max(15, Number(m[3] ?? 32)));
    const first = index - (index % span);
    for (let i = first; i < first + span; i++) taken.add(i);
  }
  const start = (process.pid * 7 + created * 13) % 512;
  for (let i = 0; i < 512; i++) {
    const n = (start + i) % 512;
    if (n % 256 !== 0 && n % 256 !== 255 && !taken.has(n)) return `198.${18 + Math.floor(n / 256)}.${n % 256}`;
  }
  throw new Error('no free /24 left in 198.18.0.0/15');
}

function ip(...args: string[]): void {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

/** Tears down everything still up when the process exits, whatever made it exit. */
process.once('exit', () => {
  for (const underlay of [...live]) underlay.destroy();
});
