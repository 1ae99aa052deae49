import { createHash } from 'node:crypto';
import { closeSync, existsSync, openSync, readFileSync, readSync, statSync } from 'node:fs';
import { type AgentStatus, certificateNotAfter, lastHandshakes, peersFromHostmap, remainingSeconds } from './status';
import { consoleCommand, readConsole } from './status-console';
import { AgentStateError, agentPaths, readAppliedConfig, readIdentity } from './state-dir';

/** How much of nebula.log's end is searched for handshakes: recent ones are all that matter. */
const LOG_TAIL_BYTES = 4 * 1024 * 1024;

export interface CollectOptions {
  readonly dir: string;
  /** The OpenSSH client. @default 'ssh' */
  readonly sshBinary?: string;
  readonly now?: () => Date;
}

/**
 * Gathers `gateway agent status` for an agent directory: the identity and config the agent wrote,
 * whether its nebula runs (nebula.pid), and from nebula itself (its loopback console) the
 * certificate it runs with and its hostmap; handshake times from the end of nebula.log.
 */
export async function collectStatus(options: CollectOptions): Promise<AgentStatus> {
  const paths = agentPaths(options.dir);
  const identity = readIdentity(paths);
  const applied = readAppliedConfig(paths);
  if (!applied) throw new AgentStateError(`${paths.config} is missing: run 'gateway agent enroll' first`);
  const now = options.now ?? (() => new Date());
  const configText = readFileSync(paths.config);
  const base = {
    dir: paths.dir,
    hostId: identity.hostId,
    overlayIp: applied.certificateIp.split('/')[0],
    config: { writtenAt: statSync(paths.config).mtime.toISOString(), sha256: createHash('sha256').update(configText).digest('hex') },
  };
  const pid = runningPid(paths.pid);
  const fromConfig = { expiresAt: applied.notAfter.toISOString(), remainingSeconds: remainingSeconds(applied.notAfter, now()), source: 'config' as const };
  if (pid === undefined) {
    return { ...base, nebula: { running: false }, certificate: fromConfig, peers: [], peersUnavailable: 'nebula is not running' };
  }
  const sshd = (applied.config as Record<string, unknown>).sshd;
  if (typeof sshd !== 'object' || sshd === null) {
    // A directory an older agent wrote: the console comes with the next config this agent installs.
    return { ...base, nebula: { running: true, pid }, certificate: fromConfig, peers: [], peersUnavailable: `${paths.config} has no console (sshd) section yet: the agent adds it with the next config it installs` };
  }
  try {
    const settings = readConsole(paths.dir);
    const [hostmap, certificate] = await Promise.all([
      consoleCommand(settings, 'list-hostmap -json', { sshBinary: options.sshBinary }),
      consoleCommand(settings, 'print-cert -json', { sshBinary: options.sshBinary }),
    ]);
    const at = now();
    const notAfter = certificateNotAfter(certificate);
    return {
      ...base,
      nebula: { running: true, pid },
      certificate: { expiresAt: notAfter.toISOString(), remainingSeconds: remainingSeconds(notAfter, at), source: 'nebula' },
      peers: peersFromHostmap(hostmap, lastHandshakes(logTail(paths.nebulaLog)), at),
    };
  } catch (error) {
    return { ...base, nebula: { running: true, pid }, certificate: fromConfig, peers: [], peersUnavailable: (error as Error).message };
  }
}

function runningPid(pidPath: string): number | undefined {
  if (!existsSync(pidPath)) return undefined;
  const pid = Number(readFileSync(pidPath, 'utf8').trim());
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  try {
    process.kill(pid, 0);
    return pid;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM' ? pid : undefined;
  }
}

function logTail(path: string): string {
  if (!existsSync(path)) return '';
  const size = statSync(path).size;
  const length = Math.min(size, LOG_TAIL_BYTES);
  const buffer = Buffer.alloc(length);
  const fd = openSync(path, 'r');
  try {
    readSync(fd, buffer, 0, length, size - length);
  } finally {
    closeSync(fd);
  }
  return buffer.toString('utf8');
}
