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

  constructor(private readonly options: ConnectionLimitsOptions) {}

  /** A new TCP connection: admitted (making room by closing the longest idle one if need be) or destroyed. */
  accept(socket: Socket): void {
    const key = peerKey(socket);
    if (key === undefined) {
      socket.destroy();
      return;
    }
    if (this.slots.size >= this.options.maxSockets) {
      const victim = this.idle.values().next().value;
      if (!victim) {
        socket.destroy();
        return;
      }
      this.remove(victim);
      victim.socket.destroy();
    }
    const slot = new Slot(this, key, socket, addressGroup(normalizeIp(socket.remoteAddress!)), Date.now());
    this.slots.set(key, slot);
    this.idle.add(slot);
    socket.once('close', () => this.remove(slot));
  }

  /** The lease of an accepted connection, found again from its TLS socket. */
  leaseOf(tlsSocket: Socket): WorkLease | undefined {
    const key = peerKey(tlsSocket);
    return key === undefined ? undefined : this.slots.get(key);
  }

  /** Closes connections that have not sent a complete first head within the deadline. */
  sweep(now: number): void {
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
