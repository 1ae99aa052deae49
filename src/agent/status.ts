/**
 * `gateway agent status`, the pure part: nebula's hostmap (its console's `list-hostmap -json`) and
 * handshake log lines in, one line per peer out. Tested as tables; status-collect.ts does the I/O.
 */

/** How nebula reaches a peer: straight to its underlay address, through relays, or not yet. */
export type PeerPath = 'direct' | 'relayed' | 'pending';

export interface PeerStatus {
  readonly overlayIp: string;
  /** The name in the peer's certificate. */
  readonly name?: string;
  readonly path: PeerPath;
  /** The relays (overlay IPs) the tunnel runs through, when relayed. */
  readonly via: readonly string[];
  /** The peer's underlay address `ip:port` nebula sends to, when direct. */
  readonly remote?: string;
  /** When the last handshake with the peer completed (from nebula's log), if still in it. */
  readonly lastHandshakeAt?: string;
  readonly certificateExpiresAt?: string;
  /** Whole seconds until the peer's certificate expires (negative: expired). */
  readonly certificateRemainingSeconds?: number;
  /** Peers this host relays for through this tunnel (a lighthouse acting as a relay). */
  readonly relaying: readonly string[];
}

export interface AgentStatus {
  readonly dir: string;
  readonly hostId: string;
  readonly overlayIp: string;
  readonly nebula: { readonly running: boolean; readonly pid?: number };
  readonly certificate: {
    readonly expiresAt: string;
    readonly remainingSeconds: number;
    /** `nebula`: the certificate nebula runs with (its console); `config`: the one in config.yml (nebula not answering). */
    readonly source: 'nebula' | 'config';
  };
  /** The config the agent last installed: when, and a content hash naming it. */
  readonly config: { readonly writtenAt: string; readonly sha256: string };
  readonly peers: readonly PeerStatus[];
  /** Why the peers are unknown (nebula not running, console not answering). */
  readonly peersUnavailable?: string;
}

/** One entry of nebula 1.6's `list-hostmap -json` (ControlHostInfo), as far as the status uses it. */
interface HostmapEntry {
  vpnIp?: unknown;
  currentRemote?: { ip?: unknown; port?: unknown } | null;
  currentRelaysToMe?: unknown;
  currentRelaysThroughMe?: unknown;
  cert?: { details?: { name?: unknown; notAfter?: unknown } } | null;
}

export class StatusFormatError extends Error {
  override readonly name = 'StatusFormatError';
}

/** Parses `list-hostmap -json` output (one JSON array) into peers, sorted by overlay IP. */
export function peersFromHostmap(json: string, handshakes: ReadonlyMap<string, string>, now: Date): PeerStatus[] {
  let entries: unknown;
  try {
    entries = JSON.parse(json);
  } catch (error) {
    throw new StatusFormatError(`nebula's hostmap is not JSON: ${json.slice(0, 200)}`, { cause: error });
  }
  if (entries === null) return [];
  if (!Array.isArray(entries)) throw new StatusFormatError('nebula\'s hostmap is not a JSON list');
  return (entries as HostmapEntry[])
    .filter((e) => typeof e.vpnIp === 'string')
    .map((e) => peerStatus(e, handshakes, now))
    .sort((a, b) => ipOrder(a.overlayIp) - ipOrder(b.overlayIp));
}

function peerStatus(entry: HostmapEntry, handshakes: ReadonlyMap<string, string>, now: Date): PeerStatus {
  const overlayIp = entry.vpnIp as string;
  const relays = strings(entry.currentRelaysToMe);
  const remote = entry.currentRemote && typeof entry.currentRemote.ip === 'string' ? `${entry.currentRemote.ip}:${String(entry.currentRemote.port)}` : undefined;
  // nebula 1.6 sends to the remote whenever it has one, through the relays only without one.
  const path: PeerPath = remote ? 'direct' : relays.length > 0 ? 'relayed' : 'pending';
  const details = entry.cert?.details;
  const notAfter = typeof details?.notAfter === 'string' ? new Date(details.notAfter) : undefined;
  const expiry = notAfter && !Number.isNaN(notAfter.getTime()) ? notAfter : undefined;
  return {
    overlayIp,
    ...(typeof details?.name === 'string' ? { name: details.name } : {}),
    path,
    via: path === 'relayed' ? relays : [],
    ...(remote ? { remote } : {}),
    ...(handshakes.has(overlayIp) ? { lastHandshakeAt: handshakes.get(overlayIp) } : {}),
    ...(expiry ? { certificateExpiresAt: expiry.toISOString(), certificateRemainingSeconds: remainingSeconds(expiry, now) } : {}),
    relaying: strings(entry.currentRelaysThroughMe),
  };
}

/** `notAfter` of `print-cert -json` (the certificate nebula runs with). */
export function certificateNotAfter(json: string): Date {
  let parsed: { details?: { notAfter?: unknown } };
  try {
    parsed = JSON.parse(json) as typeof parsed;
  } catch (error) {
    throw new StatusFormatError(`nebula's certificate is not JSON: ${json.slice(0, 200)}`, { cause: error });
  }
  const notAfter = typeof parsed?.details?.notAfter === 'string' ? new Date(parsed.details.notAfter) : undefined;
  if (!notAfter || Number.isNaN(notAfter.getTime())) throw new StatusFormatError('nebula\'s certificate has no notAfter');
  return notAfter;
}

export function remainingSeconds(notAfter: Date, now: Date): number {
  return Math.floor((notAfter.getTime() - now.getTime()) / 1000);
}

const TEXT_TIME = /\btime="([^"]+)"/;
const TEXT_VPN_IP = /\bvpnIp=(\d+\.\d+\.\d+\.\d+)\b/;
const HANDSHAKE_DONE = 'Handshake message received';

/**
 * The time of the last completed handshake per peer, from nebula's log (JSON or text lines).
 * nebula 1.6 logs "Handshake message received" with the peer's `vpnIp` as each handshake
 * completes on this side: as responder on stage 1 (it answers and is done), as initiator on
 * stage 2.
 */
export function lastHandshakes(log: string): Map<string, string> {
  const last = new Map<string, string>();
  for (const line of log.split('\n')) {
    if (!line.includes(HANDSHAKE_DONE)) continue;
    let time: unknown;
    let vpnIp: unknown;
    if (line.startsWith('{')) {
      try {
        const entry = JSON.parse(line) as Record<string, unknown>;
        if (entry.msg !== HANDSHAKE_DONE) continue;
        ({ time, vpnIp } = entry);
      } catch {
        continue;
      }
    } else {
      time = TEXT_TIME.exec(line)?.[1];
      vpnIp = TEXT_VPN_IP.exec(line)?.[1];
    }
    const at = typeof time === 'string' ? new Date(time) : undefined;
    if (typeof vpnIp === 'string' && at && !Number.isNaN(at.getTime())) last.set(vpnIp, at.toISOString());
  }
  return last;
}

/** The status as people read it: the host, then one line per peer. */
export function formatStatus(status: AgentStatus, now: Date): string {
  const lines = [
    `host        ${status.hostId} ${status.overlayIp}`,
    `nebula      ${status.nebula.running ? `running, pid ${status.nebula.pid}` : 'not running'}`,
    `certificate expires ${status.certificate.expiresAt} (${duration(status.certificate.remainingSeconds)} left${status.certificate.source === 'config' ? ', from config.yml' : ''})`,
    `config      written ${status.config.writtenAt}, sha256 ${status.config.sha256.slice(0, 16)}`,
    '',
  ];
  if (status.peersUnavailable) return `${lines.join('\n')}peers unknown: ${status.peersUnavailable}\n`;
  const rows = status.peers.map((p) => [
    p.overlayIp,
    p.name ?? '-',
    `${p.path === 'relayed' ? `relayed via ${p.via.join(',')}` : p.path}${p.relaying.length > 0 ? `, relays for ${p.relaying.join(',')}` : ''}`,
    p.remote ?? '-',
    p.lastHandshakeAt ? `${p.lastHandshakeAt} (${duration(remainingSeconds(now, new Date(p.lastHandshakeAt)))} ago)` : '-',
    p.certificateRemainingSeconds === undefined ? '-' : duration(p.certificateRemainingSeconds),
  ]);
  const head = ['PEER', 'NAME', 'PATH', 'REMOTE', 'LAST HANDSHAKE', 'CERT LEFT'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const table = [head, ...rows].map((r) => r.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd());
  return `${lines.join('\n')}${table.join('\n')}\n`;
}

/** `1d2h`, `3h4m`, `5m6s`, `7s`; `expired` below zero. */
export function duration(seconds: number): string {
  if (seconds < 0) return 'expired';
  const units: Array<[string, number]> = [['d', 86400], ['h', 3600], ['m', 60], ['s', 1]];
  const parts: string[] = [];
  let rest = Math.floor(seconds);
  for (const [unit, size] of units) {
    const n = Math.floor(rest / size);
    rest -= n * size;
    if (n > 0 || (unit === 's' && parts.length === 0)) parts.push(`${n}${unit}`);
    if (parts.length === 2) break;
  }
  return parts.join('');
}

function strings(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];
}

function ipOrder(ip: string): number {
  return ip.split('.').reduce((acc, octet) => acc * 256 + Number(octet), 0);
}
