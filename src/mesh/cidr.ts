import { MeshError } from './errors';
import { formatIpv4, parseIpv4, printable } from './ipv4';

/** Narrower than /30 leaves no room for hosts besides network and broadcast. */
export const MAX_PREFIX_LENGTH = 30;
/** Wider than /8 would overlap most of the private ranges at once; no overlay needs that. */
export const MIN_PREFIX_LENGTH = 8;

/**
 * Ranges an overlay must not cover: "this network", loopback, multicast and reserved space, and
 * link-local, where EC2 serves instance metadata and DNS (169.254.169.254, .253): nebula routes
 * the overlay into its tun device, which would cut a host off from them.
 */
export const UNUSABLE: ReadonlyArray<{ base: number; length: number; what: string }> = [
  { base: 0x00000000, length: 8, what: "'this network' (0.0.0.0/8)" },
  { base: 0x7f000000, length: 8, what: 'loopback (127.0.0.0/8)' },
  { base: 0xa9fe0000, length: 16, what: 'link-local space (169.254.0.0/16, EC2 instance metadata and DNS)' },
  { base: 0xe0000000, length: 3, what: 'multicast or reserved space (224.0.0.0/3)' },
];

const PREFIX = /^(0|[1-9][0-9]?)$/;

function maskOf(length: number): number {
  return length === 0 ? 0 : (0xffffffff << (32 - length)) >>> 0;
}

/**
 * An IPv4 overlay network such as `10.42.0.0/16`. Pure address arithmetic: host number `index`
 * (0-based) is the address `network + 1 + index`, so the network and broadcast addresses are
 * never handed out and allocation is a counter, O(1) whatever the number of hosts.
 */
export class Ipv4Cidr {
  /** The prefix length, e.g. 16 for 10.42.0.0/16. */
  readonly prefix: number;
  /** The network address as a 32-bit unsigned number. */
  readonly base: number;
  /** Number of assignable host addresses: all but the network and broadcast addresses. */
  readonly usableCount: number;

  private constructor(base: number, prefix: number) {
    this.base = base;
    this.prefix = prefix;
    this.usableCount = 2 ** (32 - prefix) - 2;
  }

  static parse(text: unknown, field = 'cidr'): Ipv4Cidr {
    if (typeof text !== 'string') throw new MeshError(field, 'must be a string such as 10.42.0.0/16');
    const slash = text.indexOf('/');
    if (slash < 0) throw new MeshError(field, `'${printable(text)}' has no prefix length (expected e.g. 10.42.0.0/16)`);
    const address = parseIpv4(text.slice(0, slash), field);
    const lengthText = text.slice(slash + 1);
    if (!PREFIX.test(lengthText) || Number(lengthText) > 32) {
      throw new MeshError(field, `'${printable(text)}' has an invalid prefix length '${printable(lengthText)}' (expected 0..32)`);
    }
    const prefix = Number(lengthText);
    if (prefix > MAX_PREFIX_LENGTH) {
      throw new MeshError(field, `'${text}' is too small: /${prefix} leaves no host addresses (use /${MAX_PREFIX_LENGTH} or wider)`);
    }
    if (prefix < MIN_PREFIX_LENGTH) {
      throw new MeshError(field, `'${text}' is too wide: /${prefix} (use /${MIN_PREFIX_LENGTH} or narrower)`);
    }
    const network = (address & maskOf(prefix)) >>> 0;
    if (network !== address) {
      throw new MeshError(field, `'${text}' has host bits set; did you mean ${formatIpv4(network)}/${prefix}?`);
    }
    const cidr = new Ipv4Cidr(network, prefix);
    for (const range of UNUSABLE) {
      if (cidr.overlapsRange(range.base, range.length)) {
        throw new MeshError(field, `'${text}' overlaps ${range.what}, which cannot be an overlay network`);
      }
    }
    return cidr;
  }

  /** The network address, e.g. `10.42.0.0`. */
  get network(): string {
    return formatIpv4(this.base);
  }

  /** The broadcast address, e.g. `10.42.255.255`. */
  get broadcast(): string {
    return formatIpv4(this.last);
  }

  /** The netmask, e.g. `255.255.0.0`. */
  get netmask(): string {
    return formatIpv4(maskOf(this.prefix));
  }

  /** Host number `index` (0..usableCount-1) as an address. */
  addressAt(index: number): string {
    if (!Number.isSafeInteger(index) || index < 0 || index >= this.usableCount) {
      throw new MeshError('index', `${index} is outside 0..${this.usableCount - 1}, the host numbers of ${this}`);
    }
    return formatIpv4(this.base + 1 + index);
  }

  /**
   * The host number of `ip`, the inverse of addressAt; undefined when `ip` is outside the network
   * or is its network or broadcast address. Throws MeshError when `ip` is not an IPv4 address.
   */
  indexOf(ip: string, field = 'ip'): number | undefined {
    const value = parseIpv4(ip, field);
    if (value <= this.base || value >= this.last) return undefined;
    return value - this.base - 1;
  }

  /** Whether `ip` lies in this network (network and broadcast addresses included). */
  contains(ip: string, field = 'ip'): boolean {
    const value = parseIpv4(ip, field);
    return value >= this.base && value <= this.last;
  }

  overlaps(other: Ipv4Cidr): boolean {
    return this.overlapsRange(other.base, other.prefix);
  }

  /** The host's address with this network's prefix length, as a certificate carries it: `10.42.0.5/16`. */
  hostPrefix(ip: string, field = 'ip'): string {
    if (this.indexOf(ip, field) === undefined) {
      throw new MeshError(field, `${ip} is not a host address of ${this}`);
    }
    return `${ip}/${this.prefix}`;
  }

  toString(): string {
    return `${this.network}/${this.prefix}`;
  }

  toJSON(): string {
    return this.toString();
  }

  private get last(): number {
    return this.base + 2 ** (32 - this.prefix) - 1;
  }

  private overlapsRange(base: number, length: number): boolean {
    const shorter = Math.min(this.prefix, length);
    const mask = maskOf(shorter);
    return ((this.base & mask) >>> 0) === ((base & mask) >>> 0);
  }
}
