import { type Ipv4Cidr, UNUSABLE } from './cidr';
import { MeshError } from './errors';
import { formatIpv4, parseIpv4, printable } from './ipv4';

/** A network's egress routes: enough for a VPC, its peers and a few services; each is a route on every environment. */
export const MAX_EGRESS_ROUTES = 64;

/**
 * Routes wider than this would send most of the internet, and with it nebula's own underlay
 * traffic to lighthouses and peers, into the tunnel that needs that underlay to exist.
 */
export const MIN_EGRESS_ROUTE_PREFIX = 8;

/** An IPv4 network of any size, `/0` to `/32` (unlike an overlay, Ipv4Cidr, which must hold hosts). */
export interface Ipv4Range {
  /** The network address as a 32-bit unsigned number. */
  readonly base: number;
  readonly prefix: number;
}

/**
 * Ranges no egress route may touch, the same an overlay may not: routing them into nebula's tun
 * device would cut every environment off from itself (loopback), from EC2's instance metadata and
 * DNS (link-local) or break multicast.
 */
const UNROUTABLE: ReadonlyArray<Ipv4Range & { what: string }> = UNUSABLE.map(({ base, length, what }) => ({ base, prefix: length, what }));

function maskOf(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

/** Parses `a.b.c.d/n` (0 ≤ n ≤ 32) without host bits; `field` names the input in errors. */
export function parseIpv4Range(text: unknown, field: string): Ipv4Range {
  if (typeof text !== 'string') throw new MeshError(field, 'must be a string such as 10.0.0.0/16');
  const slash = text.indexOf('/');
  if (slash < 0) throw new MeshError(field, `'${printable(text)}' has no prefix length (expected e.g. 10.0.0.0/16, or 10.0.0.5/32 for one address)`);
  const address = parseIpv4(text.slice(0, slash), field);
  const lengthText = text.slice(slash + 1);
  if (!/^(0|[1-9][0-9]?)$/.test(lengthText) || Number(lengthText) > 32) {
    throw new MeshError(field, `'${printable(text)}' has an invalid prefix length '${printable(lengthText)}' (expected 0..32)`);
  }
  const prefix = Number(lengthText);
  const base = (address & maskOf(prefix)) >>> 0;
  if (base !== address) throw new MeshError(field, `'${text}' has host bits set; did you mean ${formatIpv4(base)}/${prefix}?`);
  return { base, prefix };
}

export function formatIpv4Range(range: Ipv4Range): string {
  return `${formatIpv4(range.base)}/${range.prefix}`;
}

export function rangesOverlap(a: Ipv4Range, b: Ipv4Range): boolean {
  const mask = maskOf(Math.min(a.prefix, b.prefix));
  return ((a.base & mask) >>> 0) === ((b.base & mask) >>> 0);
}

/** Whether `inner` lies entirely inside `outer`. */
export function rangeWithin(inner: Ipv4Range, outer: Ipv4Range): boolean {
  return inner.prefix >= outer.prefix && ((inner.base & maskOf(outer.prefix)) >>> 0) === outer.base;
}

/** Orders ranges by address, then wider first. */
export function compareRanges(a: Ipv4Range, b: Ipv4Range): number {
  return a.base - b.base || a.prefix - b.prefix;
}

/**
 * A network's egress routes, validated and canonical: IPv4 CIDRs without host bits, sorted,
 * without duplicates, at most MAX_EGRESS_ROUTES. Refused, naming `routes[i]`: a default route
 * or anything wider than /8 (it would capture nebula's own underlay traffic), a route overlapping
 * the overlay (those addresses are hosts of the mesh), loopback, link-local or multicast space,
 * and routes overlapping each other (one destination, one route).
 */
export function parseEgressRoutes(value: unknown, overlay: Ipv4Cidr, field = 'routes'): string[] {
  if (!Array.isArray(value)) throw new MeshError(field, 'must be a list of IPv4 CIDRs such as ["10.0.0.0/16"]');
  if (value.length > MAX_EGRESS_ROUTES) throw new MeshError(field, `has ${value.length} routes (at most ${MAX_EGRESS_ROUTES})`);
  const overlayRange: Ipv4Range = { base: overlay.base, prefix: overlay.prefix };
  const parsed = value.map((text, i) => {
    const at = `${field}[${i}]`;
    const range = parseIpv4Range(text, at);
    const shown = formatIpv4Range(range);
    if (range.prefix < MIN_EGRESS_ROUTE_PREFIX) {
      throw new MeshError(
        at,
        `'${shown}' is wider than /${MIN_EGRESS_ROUTE_PREFIX}: it would capture nebula's own underlay traffic (to lighthouses and peers) into the tunnel that needs it; route the networks environments must reach instead`,
      );
    }
    if (rangesOverlap(range, overlayRange)) throw new MeshError(at, `'${shown}' overlaps the overlay network ${overlay}, whose addresses are the mesh's own hosts`);
    for (const bad of UNROUTABLE) {
      if (rangesOverlap(range, bad)) throw new MeshError(at, `'${shown}' overlaps ${bad.what}, which must stay off the tunnel`);
    }
    return { range, index: i };
  });
  const unique = new Map<string, { range: Ipv4Range; index: number }>();
  for (const entry of parsed) if (!unique.has(formatIpv4Range(entry.range))) unique.set(formatIpv4Range(entry.range), entry);
  const sorted = [...unique.values()].sort((a, b) => compareRanges(a.range, b.range));
  for (let i = 1; i < sorted.length; i++) {
    const [earlier, later] = [sorted[i - 1], sorted[i]];
    if (rangesOverlap(earlier.range, later.range)) {
      const [first, second] = earlier.index < later.index ? [earlier, later] : [later, earlier];
      throw new MeshError(`${field}[${second.index}]`, `'${formatIpv4Range(second.range)}' overlaps ${field}[${first.index}] '${formatIpv4Range(first.range)}'; give each destination one route`);
    }
  }
  return sorted.map((entry) => formatIpv4Range(entry.range));
}
