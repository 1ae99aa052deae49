import { compareRanges, formatIpv4Range, type Ipv4Range, parseIpv4Range, rangeWithin } from './egress-routes';
import { MeshError } from './errors';
import { printable } from './ipv4';

export const EGRESS_PROTOCOLS = ['tcp', 'udp', 'any'] as const;
export type EgressProtocol = (typeof EGRESS_PROTOCOLS)[number];

/** An organisation's policy is one item and one nftables set per organisation on the egress nodes. */
export const MAX_EGRESS_RULES = 256;

/**
 * One allowed destination: a network, a protocol and ports. `ports` is `any`, one port (`5432`)
 * or an inclusive range (`8000-8100`); with `proto: any` (ICMP included) it must be `any`, since
 * only TCP and UDP have ports.
 */
export interface EgressRule {
  readonly cidr: string;
  readonly proto: EgressProtocol;
  readonly ports: string;
}

const PORT = /^[1-9][0-9]{0,4}$/;

function parsePort(text: string, field: string, whole: string): number {
  if (!PORT.test(text) || Number(text) > 65535) throw new MeshError(field, `'${printable(whole)}' is not a port from 1 to 65535, a range such as 8000-8100, or 'any'`);
  return Number(text);
}

/** `any`, `N` or `N-M` (1 ≤ N ≤ M ≤ 65535), canonical: `N-N` is `N`. */
export function parsePorts(value: unknown, field: string): string {
  if (typeof value === 'number') value = String(value);
  if (typeof value !== 'string') throw new MeshError(field, "must be a string: a port such as '5432', a range such as '8000-8100', or 'any'");
  if (value === 'any') return value;
  const dash = value.indexOf('-');
  if (dash < 0) return String(parsePort(value, field, value));
  const from = parsePort(value.slice(0, dash), field, value);
  const to = parsePort(value.slice(dash + 1), field, value);
  if (from > to) throw new MeshError(field, `'${value}' ends before it starts`);
  return from === to ? String(from) : `${from}-${to}`;
}

/** One rule, canonical; `field` is where it came from, e.g. `rules[3]`. */
export function parseEgressRule(value: unknown, field: string): EgressRule {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new MeshError(field, 'must be an object such as {"cidr": "10.0.0.0/16", "proto": "tcp", "ports": "5432"}');
  }
  const { cidr, proto, ports, ...extra } = value as Record<string, unknown>;
  const unknown = Object.keys(extra)[0];
  if (unknown !== undefined) throw new MeshError(`${field}.${printable(unknown)}`, 'is not a known field (cidr, proto, ports)');
  const range = parseIpv4Range(cidr, `${field}.cidr`);
  if (typeof proto !== 'string' || !(EGRESS_PROTOCOLS as readonly string[]).includes(proto)) {
    throw new MeshError(`${field}.proto`, `must be one of ${EGRESS_PROTOCOLS.join(', ')}`);
  }
  const portText = parsePorts(ports ?? 'any', `${field}.ports`);
  if (proto === 'any' && portText !== 'any') throw new MeshError(`${field}.ports`, "must be 'any' when proto is 'any': only tcp and udp have ports");
  return { cidr: formatIpv4Range(range), proto: proto as EgressProtocol, ports: portText };
}

/** A policy's rules, each canonical, in the order given (so later checks can name `rules[i]`); sortRules stores them. */
export function parseEgressRules(value: unknown, field = 'rules'): EgressRule[] {
  if (!Array.isArray(value)) throw new MeshError(field, 'must be a list of rules {cidr, proto, ports}');
  if (value.length > MAX_EGRESS_RULES) throw new MeshError(field, `has ${value.length} rules (at most ${MAX_EGRESS_RULES})`);
  return value.map((rule, i) => parseEgressRule(rule, `${field}[${i}]`));
}

/** Sorted and without duplicates: the same allow-list always has the same bytes. */
export function sortRules(rules: readonly EgressRule[]): EgressRule[] {
  const unique = new Map(rules.map((rule) => [`${rule.cidr} ${rule.proto} ${rule.ports}`, rule]));
  return [...unique.values()].sort(
    (a, b) =>
      compareRanges(parseIpv4Range(a.cidr, 'cidr'), parseIpv4Range(b.cidr, 'cidr')) ||
      a.proto.localeCompare(b.proto) ||
      portStart(a.ports) - portStart(b.ports) ||
      a.ports.localeCompare(b.ports),
  );
}

function portStart(ports: string): number {
  return ports === 'any' ? 0 : Number(ports.split('-')[0]);
}

/**
 * The rules (by index in `rules`) whose network lies in none of `routes`: traffic to it never
 * reaches an egress node, so the rule could only mislead. Each as `{field, message}`.
 */
export function rulesOutsideRoutes(rules: readonly EgressRule[], routes: readonly string[], field = 'rules'): { field: string; message: string }[] {
  const ranges: Ipv4Range[] = routes.map((route, i) => parseIpv4Range(route, `routes[${i}]`));
  const shown = routes.length === 0 ? 'the network has no egress routes yet (PUT /v1/network/egress-routes)' : `the network's egress routes are ${routes.join(', ')}`;
  return rules.flatMap((rule, i) =>
    ranges.some((route) => rangeWithin(parseIpv4Range(rule.cidr, 'cidr'), route))
      ? []
      : [{ field: `${field}[${i}].cidr`, message: `${rule.cidr} lies inside no egress route: ${shown}` }],
  );
}

/** Whether `rule`'s network lies inside one of `routes` (canonical CIDRs). */
export function ruleWithinRoutes(rule: EgressRule, routes: readonly string[]): boolean {
  const range = parseIpv4Range(rule.cidr, 'cidr');
  return routes.some((route, i) => rangeWithin(range, parseIpv4Range(route, `routes[${i}]`)));
}

/**
 * A rule written as `PROTO:CIDR[:PORTS]` (the CLI's `--rule tcp:10.0.0.0/16:5432`; ports default
 * to `any`); `field` names where it came from.
 */
export function parseRuleSpec(text: string, field: string): EgressRule {
  const parts = text.split(':');
  if (parts.length < 2 || parts.length > 3) {
    throw new MeshError(field, `'${printable(text)}' is not PROTO:CIDR[:PORTS], e.g. tcp:10.0.0.0/16:5432, udp:10.0.0.2/32:53 or any:10.0.0.0/16`);
  }
  const [proto, cidr, ports] = parts;
  return parseEgressRule({ cidr, proto, ports: ports ?? 'any' }, field);
}
