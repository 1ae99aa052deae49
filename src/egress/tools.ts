import { type ChildProcess, execFile, spawn, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { type ConntrackEntry, parseConntrackLine } from './conntrack';
import { deleteArguments } from './cut';
import { EGRESS_TABLE, REFUSED_SET } from './ruleset';

/** The I/O edge of the egress node: `nft`, `conntrack` and the kernel's sysctls. */

/** A tool the node needs is missing or failed; the message says which and how to get it. */
export class EgressToolError extends Error {
  override readonly name = 'EgressToolError';
}

export interface EgressTools {
  readonly nft: string;
  readonly conntrack: string;
}

export const DEFAULT_TOOLS: EgressTools = { nft: 'nft', conntrack: 'conntrack' };

/** Throws EgressToolError naming every missing binary (Debian: `apt-get install nftables conntrack`). */
export function checkTools(tools: EgressTools = DEFAULT_TOOLS): void {
  const missing = [
    { bin: tools.nft, pkg: 'nftables' },
    { bin: tools.conntrack, pkg: 'conntrack' },
  ].filter(({ bin }) => spawnSync(bin, ['--version'], { stdio: 'ignore' }).error !== undefined);
  if (missing.length > 0) {
    throw new EgressToolError(`egress enforcement needs ${missing.map((m) => m.bin).join(' and ')} (apt-get install ${missing.map((m) => m.pkg).join(' ')})`);
  }
}

/** Runs a tool; resolves to its stdout (or its stderr, with `stderrOut`). */
function run(bin: string, args: string[], input?: string, stderrOut = false): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(bin, args, { encoding: 'utf8', timeout: 30_000, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) reject(new EgressToolError(`${bin} ${args.join(' ')} failed: ${stderr.trim() || err.message}`, { cause: err }));
      else resolve(stderrOut ? stderr : stdout);
    });
    // A tool that exits without reading its stdin (or fails early) must not crash the node with EPIPE.
    child.stdin?.on('error', () => undefined);
    child.stdin?.end(input);
  });
}

/** Runs a ruleset script as one nft transaction: all of it applies, or none (`check`: validate only). */
export async function applyRuleset(script: string, options: { check?: boolean; tools?: EgressTools } = {}): Promise<void> {
  await run((options.tools ?? DEFAULT_TOOLS).nft, options.check ? ['-c', '-f', '-'] : ['-f', '-'], script);
}

/** The `refused` set as nft's JSON. */
export function listRefusedSet(tools: EgressTools = DEFAULT_TOOLS): Promise<string> {
  return run(tools.nft, ['-j', 'list', 'set', 'inet', EGRESS_TABLE, REFUSED_SET]);
}

/** The kernel's IPv4 conntrack entries. */
export async function listConntrack(tools: EgressTools = DEFAULT_TOOLS): Promise<ConntrackEntry[]> {
  const out = await run(tools.conntrack, ['-L', '-f', 'ipv4', '-o', 'extended,id']);
  return out.split('\n').flatMap((line) => parseConntrackLine(line) ?? []);
}

/** Deletes `entries` (see deleteArguments); resolves to how many were deleted. */
export async function deleteConntrack(entries: readonly ConntrackEntry[], tools: EgressTools = DEFAULT_TOOLS): Promise<number> {
  let deleted = 0;
  for (const args of deleteArguments(entries)) {
    // conntrack -D reports "N flow entries have been deleted" on stderr; an entry already gone is no error.
    deleted += await run(tools.conntrack, args, undefined, true).then(
      (stderr) => Number(/(\d+) flow entr/.exec(stderr)?.[1] ?? 0),
      () => 0,
    );
  }
  return deleted;
}

/**
 * `conntrack -E` for NEW and DESTROY events with timestamps and ids; each parsed entry goes to
 * `onEntry`. A large receive buffer keeps bursts from overrunning the event socket.
 */
export function watchConntrack(onEntry: (entry: ConntrackEntry) => void, onExit: (code: number | null, stderr: string) => void, tools: EgressTools = DEFAULT_TOOLS): ChildProcess {
  const child = spawn(tools.conntrack, ['-E', '-f', 'ipv4', '-e', 'NEW,DESTROY', '-o', 'timestamp,extended,id', '--buffer-size', String(8 * 1024 * 1024)], { stdio: ['ignore', 'pipe', 'pipe'] });
  let partial = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    const lines = (partial + chunk).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) {
      const entry = parseConntrackLine(line);
      if (entry) onEntry(entry);
    }
  });
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    stderr = (stderr + chunk).slice(-2000);
  });
  // 'close', not 'exit': the reason conntrack printed as it exited may still be in the pipe at 'exit'.
  child.once('close', (code) => onExit(code, stderr.trim()));
  return child;
}

/**
 * The kernel settings the node depends on: forwarding, and conntrack byte counters and
 * timestamps for the flow log. Written in the node's network namespace.
 */
export function enableKernelSettings(): void {
  for (const [path, value] of [
    ['/proc/sys/net/netfilter/nf_conntrack_acct', '1'],
    ['/proc/sys/net/netfilter/nf_conntrack_timestamp', '1'],
    ['/proc/sys/net/ipv4/ip_forward', '1'],
  ]) {
    try {
      writeFileSync(path, value);
    } catch (err) {
      throw new EgressToolError(`cannot set ${path.replace('/proc/sys/', '').replaceAll('/', '.')}=${value} (run as root): ${(err as Error).message}`, { cause: err });
    }
  }
}
