import { PkiError } from './errors';

/**
 * An IPv4 address with a prefix length, as nebula v1 certificates carry them: `10.42.0.5/16`
 * keeps the host address (a certificate's `ips`); a subnet is normally the masked network.
 */
export interface Ipv4Prefix {
  /** Dotted quad, e.g. `10.42.0.5`. */
  readonly address: string;
  /** 0..32 */
  readonly prefixLength: number;
}

/** Parses `a.b.c.d/n` like Go's net.ParseCIDR for IPv4 (no leading zeros), keeping the host bits. */
export function parseIpv4Prefix(text: string): Ipv4Prefix {
  const slash = typeof text === 'string' ? text.indexOf('/') : -1;
  const length = slash < 0 ? '' : text.slice(slash + 1);
  if (slash < 0 || !/^(3[0-2]|[12]?\d)$/.test(length) || scanIpv4(text.slice(0, slash)) < 0) {
    throw new PkiError('invalid-input', `invalid IPv4 CIDR ${JSON.stringify(text)}: expected a.b.c.d/n`);
  }
  return { address: text.slice(0, slash), prefixLength: Number(length) };
}

/** `10.42.0.5/16`, as Go's net.IPNet.String() prints a contiguous mask. */
export function formatIpv4Prefix(prefix: Ipv4Prefix): string {
  return `${prefix.address}/${prefix.prefixLength}`;
}

/** The address as a big-endian uint32, the way certificates store it. */
export function ipv4ToUint32(address: string): number {
  const value = scanIpv4(address);
  if (value < 0) throw new PkiError('invalid-input', `invalid IPv4 address ${JSON.stringify(address)}`);
  return value;
}

/** The address as a uint32, or -1 when it is not a dotted quad. Hand-written: it runs per IP per certificate. */
function scanIpv4(address: string): number {
  let value = 0;
  let octet = 0;
  let digits = 0;
  let dots = 0;
  const n = typeof address === 'string' ? address.length : 0;
  for (let i = 0; i <= n; i++) {
    const c = i < n ? address.charCodeAt(i) : 46;
    if (c === 46) {
      if (digits === 0 || octet > 255) return -1;
      value = value * 256 + octet;
      octet = 0;
      digits = 0;
      dots++;
    } else if (c >= 48 && c <= 57 && !(digits === 1 && octet === 0)) {
      octet = octet * 10 + (c - 48);
      digits++;
    } else {
      return -1;
    }
  }
  return dots === 4 ? value : -1;
}

export function uint32ToIpv4(value: number): string {
  return `${value >>> 24}.${(value >>> 16) & 255}.${(value >>> 8) & 255}.${value & 255}`;
}

/** The netmask of a prefix length as a uint32: 16 → 0xffff0000. */
export function prefixLengthToMask(prefixLength: number): number {
  return prefixLength === 0 ? 0 : (0xffffffff << (32 - prefixLength)) >>> 0;
}

/** The prefix length of a contiguous netmask, or undefined for a mask like 0xff00ff00. */
export function maskToPrefixLength(mask: number): number | undefined {
  const inverted = ~mask >>> 0;
  if ((inverted & (inverted + 1)) !== 0) return undefined;
  return Math.clz32(inverted);
}

/** The network of a prefix: host bits cleared (`192.168.10.7/24` → `192.168.10.0/24`). */
export function ipv4Network(prefix: Ipv4Prefix): Ipv4Prefix {
  const network = (ipv4ToUint32(prefix.address) & prefixLengthToMask(prefix.prefixLength)) >>> 0;
  return { address: uint32ToIpv4(network), prefixLength: prefix.prefixLength };
}

/**
 * nebula's netMatch: `inner`'s address lies inside one of `outer` and its mask is not wider
 * than that one's (a CA holding 10.42.0.0/16 cannot issue 10.42.1.5/8).
 */
export function ipv4PrefixWithinAny(inner: Ipv4Prefix, outer: readonly Ipv4Prefix[]): boolean {
  const address = ipv4ToUint32(inner.address);
  for (const candidate of outer) {
    const mask = prefixLengthToMask(candidate.prefixLength);
    if (((address ^ ipv4ToUint32(candidate.address)) & mask) === 0 && candidate.prefixLength <= inner.prefixLength) return true;
  }
  return false;
}
