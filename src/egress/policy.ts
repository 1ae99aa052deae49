import { parseIpv4 } from '../mesh';
import { type EgressFeed, type EgressRule, cidrContains, parseCidr } from './feed';

/** Who an overlay source address is, as the flow log names it. */
export interface SourceHost {
  readonly hostId: string;
  readonly name: string;
  readonly organization: string;
}

/** One outbound flow as conntrack sees it (its original direction). */
export interface FlowKey {
  readonly source: string;
  readonly destination: string;
  /** `tcp`, `udp`, `icmp`, … as conntrack names it. */
  readonly proto: string;
  /** Destination port; undefined for protocols without ports. */
  readonly port?: number;
}

/** Overlay source address → host and organisation, for every member of the feed. */
export function memberIndex(feed: EgressFeed): Map<string, SourceHost> {
  const index = new Map<string, SourceHost>();
  for (const org of feed.organizations) {
    for (const member of org.members) index.set(member.ip, { hostId: member.hostId, name: member.name, organization: org.organization });
  }
  return index;
}

function ruleAllows(rule: EgressRule, destination: number, proto: string, port: number | undefined): boolean {
  if (!cidrContains(parseCidr(rule.cidr, 'cidr'), destination)) return false;
  if (rule.proto !== 'any' && rule.proto !== proto) return false;
  if (rule.ports === 'any') return true;
  // A port range applies to the port-carrying protocols only, as the ruleset renders it.
  if ((proto !== 'tcp' && proto !== 'udp') || port === undefined) return false;
  return port >= rule.ports.from && port <= rule.ports.to;
}

/**
 * Whether `feed` lets `flow` out: its source is a member of an organisation with a rule matching
 * destination, protocol and port. The same decision as the rendered ruleset's accept rules; the
 * node uses it to find established flows a new policy no longer allows.
 */
export function allows(feed: EgressFeed, flow: FlowKey): boolean {
  const destination = parseIpv4(flow.destination, 'destination');
  const org = feed.organizations.find((o) => o.members.some((m) => m.ip === flow.source));
  return org !== undefined && org.rules.some((rule) => ruleAllows(rule, destination, flow.proto, flow.port));
}
