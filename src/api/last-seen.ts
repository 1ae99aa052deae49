import type { HostRecord } from '../store';

/** A host's sighting is written at most this often for its agent's calls (unless a version changed). */
export const LAST_SEEN_INTERVAL_MS = 10 * 60_000;

/** Longer User-Agent headers are not read at all. */
const MAX_USER_AGENT_LENGTH = 256;
/** A version: 1..32 printable characters of the kinds versions use (`1.6.1`, `0.1.0-rc.1+abc`). */
const VERSION = '([0-9A-Za-z][0-9A-Za-z.+_~-]{0,31})';
const AGENT_USER_AGENT = new RegExp(`^gateway-agent/${VERSION}(?: nebula/${VERSION})?(?: |$)`);

export interface AgentVersions {
  readonly agentVersion: string;
  readonly nebulaVersion?: string;
}

/**
 * The versions in an agent's `User-Agent: gateway-agent/<version> nebula/<version>`; undefined for
 * anything else (another client, an over-long or malformed header: nothing of it is stored).
 */
export function parseAgentUserAgent(header: string | undefined): AgentVersions | undefined {
  if (header === undefined || header.length > MAX_USER_AGENT_LENGTH) return undefined;
  const match = AGENT_USER_AGENT.exec(header);
  if (!match) return undefined;
  return { agentVersion: match[1], ...(match[2] ? { nebulaVersion: match[2] } : {}) };
}

/**
 * Whether a call by `host`'s agent at `now` should be written down: it was not seen within the
 * interval, or names versions other than the recorded ones. Spares the write (the store's
 * condition says the same, for concurrent calls) on nearly every call of a long-polling agent.
 * The sighting comes with the host the call authenticated with (one Query reads both: see
 * store/host-seen.ts), not from a memo in this process: behind Lambda one agent's calls land on
 * many instances, and each cold memo would cost a refused conditional write (1 unit) per instance.
 */
export function shouldRecordSeen(host: Pick<HostRecord, 'lastSeenAt' | 'agentVersion' | 'nebulaVersion'>, versions: AgentVersions | undefined, now: Date, intervalMs = LAST_SEEN_INTERVAL_MS): boolean {
  if (versions && (versions.agentVersion !== host.agentVersion || (versions.nebulaVersion !== undefined && versions.nebulaVersion !== host.nebulaVersion))) return true;
  const last = host.lastSeenAt === undefined ? Number.NaN : Date.parse(host.lastSeenAt);
  return !(now.getTime() - last <= intervalMs);
}
