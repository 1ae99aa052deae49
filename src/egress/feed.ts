import { formatIpv4, parseIpv4 } from '../mesh';

/**
 * The egress node's rules feed, as `GET /v1/egress/rules` answers it, validated: every address,
 * CIDR, protocol and port range is checked here, because the renderer writes them into an nftables
 * ruleset and the flow logger matches on them (nothing unchecked reaches `nft`).
 */
export type EgressProto = 'tcp' | 'udp' | 'any';

export interface EgressRule {
  /** Destination network, normalised (`10.99.0.10/32`). */
  readonly cidr: string;
  readonly proto: EgressProto;
  /** `any`, or an inclusive port range (a single port has `from === to`). */
  readonly ports: 'any' | { readonly from: number; readonly to: number };
}

export interface EgressMember {
  readonly hostId: string;
  readonly name: string;
  /** Overlay address, without prefix length. */
  readonly ip: string;
}

export interface EgressOrganization {
  readonly organization: string;
  readonly rules: readonly EgressRule[];
  readonly members: readonly EgressMember[];
}

export interface EgressFeed {
  readonly version: string;
  /** The network's egress routes (what the egress node's certificate carries). */
  readonly routes: readonly string[];
  readonly organizations: readonly EgressOrganization[];
}

/** The feed is unusable; `field` names what was wrong (`organizations[1].rules[0].ports`). */
export class EgressFeedError extends Error {
  override readonly name = 'EgressFeedError';
  constructor(
    readonly field: string,
    message: string,
    options?: ErrorOptions,
  ) {
    super(`${field}: ${message}`, options);
  }
}

/** A feed that allows nothing: what the node enforces before it has ever heard from the API. */
export const EMPTY_FEED: EgressFeed = { version: 'none', routes: [], organizations: [] };

const PREFIX = /^(0|[1-9]|[12][0-9]|3[0-2])$/;
const PORT = /^([1-9][0-9]{0,4})$/;
/** Names reach JSON log lines and (sanitised) nft comments only; still, no control characters, bounded. */
const LABEL = /^[^\x00-\x1f\x7f]{1,256}$/u;

/** A CIDR with its host bits clear (`10.99.0.0/24`); a bare address is a /32. */
export interface ParsedCidr {
  readonly base: number;
  readonly prefix: number;
}

export function parseCidr(text: unknown, field: string): ParsedCidr {
  if (typeof text !== 'string') throw new EgressFeedError(field, 'must be a CIDR such as 10.99.0.0/24');
  const [address, length = '32', ...rest] = text.split('/');
  if (rest.length > 0 || !PREFIX.test(length)) throw new EgressFeedError(field, `'${text.slice(0, 60)}' is not a CIDR such as 10.99.0.0/24`);
  let base: number;
  try {
    base = parseIpv4(address, field);
  } catch (err) {
    throw new EgressFeedError(field, `'${text.slice(0, 60)}' is not a CIDR such as 10.99.0.0/24`, { cause: err });
  }
  const prefix = Number(length);
  if (((base & maskOf(prefix)) >>> 0) !== base) throw new EgressFeedError(field, `'${text}' has host bits set`);
  return { base, prefix };
}

export function formatCidr(cidr: ParsedCidr): string {
  return `${formatIpv4(cidr.base)}/${cidr.prefix}`;
}

export function maskOf(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

/** Whether `ip` (a 32-bit number) lies in `cidr`. */
export function cidrContains(cidr: ParsedCidr, ip: number): boolean {
  return ((ip & maskOf(cidr.prefix)) >>> 0) === cidr.base;
}

function parsePorts(value: unknown, field: string): EgressRule['ports'] {
  if (value === 'any') return 'any';
  const text = typeof value === 'number' ? String(value) : value;
  if (typeof text !== 'string') throw new EgressFeedError(field, "must be 'any', a port or a range such as 8000-8100");
  const [low, high = low, ...rest] = text.split('-');
  if (rest.length > 0 || !PORT.test(low) || !PORT.test(high)) throw new EgressFeedError(field, `'${text.slice(0, 20)}' is not 'any', a port or a range such as 8000-8100`);
  const from = Number(low);
  const to = Number(high);
  if (to > 65535 || from > to) throw new EgressFeedError(field, `'${text}' is not a range within 1-65535`);
  return { from, to };
}

function parseRule(value: unknown, field: string): EgressRule {
  if (typeof value !== 'object' || value === null) throw new EgressFeedError(field, 'must be an object {cidr, proto, ports}');
  const rule = value as Record<string, unknown>;
  const proto = rule.proto;
  if (proto !== 'tcp' && proto !== 'udp' && proto !== 'any') throw new EgressFeedError(`${field}.proto`, "must be 'tcp', 'udp' or 'any'");
  return { cidr: formatCidr(parseCidr(rule.cidr, `${field}.cidr`)), proto, ports: parsePorts(rule.ports ?? 'any', `${field}.ports`) };
}

function parseLabel(value: unknown, field: string): string {
  if (typeof value !== 'string' || !LABEL.test(value)) throw new EgressFeedError(field, 'must be 1-256 characters without control characters');
  return value;
}

function parseMember(value: unknown, field: string): EgressMember {
  if (typeof value !== 'object' || value === null) throw new EgressFeedError(field, 'must be an object {hostId, name, ip}');
  const member = value as Record<string, unknown>;
  // The API may send the overlay address with its prefix length, as certificates carry it.
  const ipText = typeof member.ip === 'string' ? member.ip.split('/')[0] : member.ip;
  let ip: string;
  try {
    ip = formatIpv4(parseIpv4(ipText, `${field}.ip`));
  } catch (err) {
    throw new EgressFeedError(`${field}.ip`, 'must be an IPv4 address', { cause: err });
  }
  return { hostId: parseLabel(member.hostId, `${field}.hostId`), name: parseLabel(member.name, `${field}.name`), ip };
}

function list(value: unknown, field: string): unknown[] {
  if (!Array.isArray(value)) throw new EgressFeedError(field, 'must be an array');
  return value;
}

/** Validates a feed as the API sent it (parsed JSON); throws EgressFeedError naming the field. */
export function parseEgressFeed(json: unknown): EgressFeed {
  if (typeof json !== 'object' || json === null) throw new EgressFeedError('feed', 'must be a JSON object');
  const feed = json as Record<string, unknown>;
  const version = typeof feed.version === 'number' ? String(feed.version) : feed.version;
  if (typeof version !== 'string' || version === '' || version.length > 200) throw new EgressFeedError('version', 'must be a non-empty string');
  const routes = list(feed.routes, 'routes').map((r, i) => formatCidr(parseCidr(r, `routes[${i}]`)));
  const seen = new Map<string, string>();
  const organizations = list(feed.organizations, 'organizations').map((value, i) => {
    const field = `organizations[${i}]`;
    if (typeof value !== 'object' || value === null) throw new EgressFeedError(field, 'must be an object {organization, rules, members}');
    const org = value as Record<string, unknown>;
    const organization = parseLabel(org.organization, `${field}.organization`);
    const members = list(org.members ?? [], `${field}.members`).map((m, j) => parseMember(m, `${field}.members[${j}]`));
    for (const member of members) {
      // One source address in two organisations would make its policy ambiguous.
      const other = seen.get(member.ip);
      if (other !== undefined && other !== organization) throw new EgressFeedError(`${field}.members`, `${member.ip} is also a member of '${other}'`);
      seen.set(member.ip, organization);
    }
    return { organization, rules: list(org.rules ?? [], `${field}.rules`).map((r, j) => parseRule(r, `${field}.rules[${j}]`)), members };
  });
  return { version, routes, organizations };
}
