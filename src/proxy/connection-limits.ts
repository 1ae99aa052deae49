import type { Socket } from 'node:net';

/** What a client connection reports as it starts a request (or tunnel) and goes idle again. */
export interface WorkLease {
  /** False when the client's IP already has its share of working connections. */
  begin(): boolean;
  /** Idempotent: the request (or tunnel) is over, or the connection closed. */
  end(): void;
}

export interface ConnectionLimitsOptions {
  /** Requests or tunnels in progress at once from one client IPv4 address or IPv6 /64 (see `addressGroup`). */
  readonly maxWorkingPerIp: number;
  /** Open client sockets in all, working or not: each holds a file descriptor (two while working). */
  readonly maxSockets: number;
  /** A connection must finish its TLS handshake and send a complete first request head within this. */
  readonly firstRequestTimeoutMs: number;
  /** New connections one address group may open: `perSecond` sustained after a `burst` (see `NewConnectionRate`). */
  readonly newConnections: { readonly perSecond: number; readonly burst: number };
  /** Where the count of refused new connections is reported, at most once a minute per address group. */
  readonly report: (line: string) => void;
}

/**
 * New connections an address group may open per second once its burst is spent. A browser speaks
 * HTTP/1.1 here (ALPN) and opens at most 6 connections per host name (Chrome, Firefox, Safari),
 * reusing them for 75 s of idleness; 50 a second is an office NAT of 300 people each opening a
 * fresh connection every 6 s, all day. Yet one address at this rate costs the proxy under 5% of a
 * core in handshakes (~0.7 ms each; a refusal ~0.06 ms: `npm run bench handshake`), and churns the
 * global cap slowly: a connection sends a first request within 10 s and then idles 75 s at most,
 * so one address that leaves its connections idle holds at most ~4000 (200 + 50 × 75) of the
 * 16384 sockets, and one that keeps them all alive needs over 5 minutes to fill them.
 */
export const DEFAULT_NEW_CONNECTIONS_PER_SECOND = 50;
/**
 * New connections an address group may open at once. 200 lets ~30 browsers behind one NAT open
 * their 6 connections to a page's host in the same instant (after a proxy restart, everyone
 * reconnects; a Wi-Fi change moves a whole office), and refills in 4 s.
 */
export const DEFAULT_NEW_CONNECTIONS_BURST = 200;
/** A group's refusals are reported at most this often, so a flood writes one line a minute, not one per connection. */
const REPORT_INTERVAL_MS = 60_000;

interface Bucket {
  tokens: number;
  /** When `tokens` was last brought up to date. */
  at: number;
  /** Refused since the last report. */
  refused: number;
  reportedAt: number;
}

/**
 * A token bucket of new connections per address group, checked before any TLS work: a handshake
 * costs the proxy an ECDHE and a signature, and every admitted socket counts toward the global cap.
 * A bucket that has filled up again is dropped (a new one starts full, the same thing), so only
 * groups that connected in the last few seconds, or were refused in the last minute, are held.
 */
export class NewConnectionRate {
  private readonly buckets = new Map<string, Bucket>();
  private refusedTotal = 0;

  constructor(
    private readonly perSecond: number,
    private readonly burst: number,
    private readonly report: (line: string) => void,
  ) {}

  /** Takes one new connection from the group's bucket; false (and counted) when it is empty. */
  take(group: string, now: number): boolean {
    let bucket = this.buckets.get(group);
    if (bucket) this.refill(bucket, now);
    else {
      bucket = { tokens: this.burst, at: now, refused: 0, reportedAt: -Infinity };
      this.buckets.set(group, bucket);
    }
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return true;
    }
    bucket.refused++;
    this.refusedTotal++;
    return false;
  }

  /** Reports refusals not reported within the interval, and drops the buckets that are full again. */
  sweep(now: number): void {
    for (const [group, bucket] of this.buckets) {
      const quiet = now - bucket.reportedAt >= REPORT_INTERVAL_MS;
      if (bucket.refused > 0 && quiet) {
        this.report(
          `refused ${bucket.refused} new connection${bucket.refused === 1 ? '' : 's'} from ${group}: more than ${this.perSecond}/s after a burst of ${this.burst}`,
        );
        bucket.refused = 0;
        bucket.reportedAt = now;
        continue;
      }
      this.refill(bucket, now);
      // Kept while its last report is recent, so that a flood in bursts is still reported once a minute.
      if (bucket.tokens >= this.burst && bucket.refused === 0 && quiet) this.buckets.delete(group);
    }
  }

  /** New connections refused since the start. */
  get refused(): number {
    return this.refusedTotal;
  }

  /** Address groups with a bucket held. */
  get groups(): number {
    return this.buckets.size;
  }

  private refill(bucket: Bucket, now: number): void {
    // max(): a clock stepped back refills nothing rather than draining the bucket.
    bucket.tokens = Math.min(this.burst, bucket.tokens + (Math.max(0, now - bucket.at) * this.perSecond) / 1000);
    bucket.at = Math.max(bucket.at, now);
  }
}

/** One accepted TCP connection, from `connection` until `close`. */
class Slot implements WorkLease {
  working = false;
  /** Has sent at least one complete request head. */
  proven = false;
  open = true;
  /** When it was accepted, or last went idle. */
  idleSince: number;

  constructor(
    private readonly limits: ConnectionLimits,
    readonly key: string,
    readonly socket: Socket,
    /** The address group its working connections count against. */
    readonly ip: string,
    now: number,
  ) {
    this.idleSince = now;
  }

  begin(): boolean {
    return this.limits.begin(this);
  }

  end(): void {
    this.limits.end(this);
  }
}

/**
 * Who may hold a connection. Idle connections (in the TLS handshake, before their first head,
 * between keep-alive requests) cost a file descriptor and a little memory, so they are bounded
 * only globally and by deadlines, and the longest idle one gives way when the global cap is
 * reached; the per-IP limit counts only connections that are working, so one visitor holding
 * idle sockets cannot lock out the others behind the same address (an office NAT).
 */
export class ConnectionLimits {
  /** By the peer's address:port, the one thing the raw socket and its TLS socket both know. */
  private readonly slots = new Map<string, Slot>();
  /** Slots not working, longest idle first (a Set iterates in insertion order). */
  private readonly idle = new Set<Slot>();
  private readonly workingPerIp = new Map<string, number>();
  private readonly rate: NewConnectionRate;

  constructor(private readonly options: ConnectionLimitsOptions) {
    this.rate = new NewConnectionRate(options.newConnections.perSecond, options.newConnections.burst, options.report);
  }

  /**
   * A new TCP connection, before any TLS: admitted (true; making room by closing the longest idle
   * one if need be) or destroyed. One opened too fast for its address group takes no place, so it
   * closes no one else's idle connection.
   */
  accept(socket: Socket): boolean {
    const key = peerKey(socket);
    if (key === undefined) {
      socket.destroy();
      return false;
    }
    const now = Date.now();
    const group = addressGroup(normalizeIp(socket.remoteAddress!));
    if (!this.rate.take(group, now)) {
      socket.destroy();
      return false;
    }
    if (this.slots.size >= this.options.maxSockets) {
      const victim = this.idle.values().next().value;
      if (!victim) {
        socket.destroy();
        return false;
      }
      this.remove(victim);
      victim.socket.destroy();
    }
    const slot = new Slot(this, key, socket, group, now);
    this.slots.set(key, slot);
    this.idle.add(slot);
    socket.once('close', () => this.remove(slot));
    return true;
  }

  /** The lease of an accepted connection, found again from its TLS socket. */
  leaseOf(tlsSocket: Socket): WorkLease | undefined {
    const key = peerKey(tlsSocket);
    return key === undefined ? undefined : this.slots.get(key);
  }

  /** Closes connections that have not sent a complete first head within the deadline; see `NewConnectionRate.sweep`. */
  sweep(now: number): void {
    this.rate.sweep(now);
    const cutoff = now - this.options.firstRequestTimeoutMs;
    for (const slot of this.idle) {
      if (!slot.proven && slot.idleSince < cutoff) {
        this.remove(slot);
        slot.socket.destroy();
      }
    }
  }

  get sockets(): number {
    return this.slots.size;
  }

  get working(): number {
    return this.slots.size - this.idle.size;
  }

  /** New connections destroyed since the start because their address group opened them too fast. */
  get refusedTooFast(): number {
    return this.rate.refused;
  }

  destroyAll(): void {
    for (const slot of [...this.slots.values()]) {
      this.remove(slot);
      slot.socket.destroy();
    }
  }

  begin(slot: Slot): boolean {
    if (slot.working || !slot.open) return true;
    const count = this.workingPerIp.get(slot.ip) ?? 0;
    if (count >= this.options.maxWorkingPerIp) return false;
    this.workingPerIp.set(slot.ip, count + 1);
    slot.working = true;
    slot.proven = true;
    this.idle.delete(slot);
    return true;
  }

  end(slot: Slot): void {
    if (!slot.working) return;
    slot.working = false;
    const left = this.workingPerIp.get(slot.ip)! - 1;
    if (left === 0) this.workingPerIp.delete(slot.ip);
    else this.workingPerIp.set(slot.ip, left);
    if (slot.open) {
      slot.idleSince = Date.now();
      this.idle.add(slot);
    }
  }

  private remove(slot: Slot): void {
    if (!slot.open) return;
    slot.open = false;
    this.end(slot);
    this.idle.delete(slot);
    if (this.slots.get(slot.key) === slot) this.slots.delete(slot.key);
  }
}

function peerKey(socket: Socket): string | undefined {
  const address = socket.remoteAddress;
  return address === undefined ? undefined : `${address}|${socket.remotePort}`;
}

export function normalizeIp(ip: string): string {
  return ip.startsWith('::ffff:') ? ip.slice(7) : ip;
}

/**
 * What one client's share is counted by: an IPv4 address, or an IPv6 /64. A single IPv6 host is
 * routinely given a whole /64 (SLAAC, privacy addresses, cloud VMs), so counting per address
 * would let one client take every working place by rotating source addresses.
 */
export function addressGroup(ip: string): string {
  if (!ip.includes(':')) return ip;
  const bare = ip.split('%')[0].toLowerCase();
  const [head, tail] = bare.split('::');
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  // '::' stands for the zero groups missing; a dotted IPv4 tail (64:ff9b::192.0.2.1) fills two.
  const width = right.reduce((n, g) => n + (g.includes('.') ? 2 : 1), left.length);
  const groups = tail === undefined ? left : [...left, ...Array<string>(Math.max(0, 8 - width)).fill('0'), ...right];
  return `${groups
    .slice(0, 4)
    .map((g) => Number.parseInt(g || '0', 16).toString(16))
    .join(':')}::/64`;
}
