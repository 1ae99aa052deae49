import { type EgressRule, ruleWithinRoutes, sortRules } from '../mesh/egress-policy';
import type { EgressPolicyRecord, GatewayStore, HostRecord } from '../store';
import { contentPart } from './etag';

/** An environment an egress node admits for its organisation, by its overlay source address. */
export interface EgressMember {
  readonly hostId: string;
  readonly name: string;
  readonly ip: string;
}

export interface EgressOrganization {
  readonly organization: string;
  readonly rules: readonly EgressRule[];
  readonly members: readonly EgressMember[];
}

/** The body of `GET /v1/egress/rules`: everything an egress node enforces. */
export interface EgressFeed {
  /** A content hash: equal feeds have equal versions on every server; the ETag is it, quoted. */
  readonly version: string;
  readonly routes: readonly string[];
  readonly organizations: readonly EgressOrganization[];
}

const byString = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/**
 * The feed as a pure function of its inputs: one entry per organisation that has a policy or an
 * environment (default deny: no policy, no rules), sorted by name; members are the environments
 * that are not revoked and whose owner is in the organisation (an environment without an owner
 * belongs to none and gets no egress), sorted by host id; rules outside the routes are left out
 * (no traffic to them reaches an egress node). `revokedHostIds` are left out whatever the hosts
 * say: the host listing is an index that may lag a revocation by a moment.
 */
export function buildEgressFeed(input: {
  routes: readonly string[];
  policies: readonly EgressPolicyRecord[];
  environments: readonly HostRecord[];
  revokedHostIds: ReadonlySet<string>;
}): EgressFeed {
  const members = new Map<string, EgressMember[]>();
  for (const host of input.environments) {
    const organization = host.owner?.organization;
    if (host.role !== 'environment' || host.status === 'revoked' || input.revokedHostIds.has(host.id) || !organization) continue;
    const list = members.get(organization) ?? [];
    list.push({ hostId: host.id, name: host.name, ip: host.ip });
    members.set(organization, list);
  }
  const rules = new Map(input.policies.map((p) => [p.organization, p.rules]));
  const names = [...new Set([...rules.keys(), ...members.keys()])].sort(byString);
  const organizations = names.map((organization) => ({
    organization,
    rules: sortRules((rules.get(organization) ?? []).filter((rule) => ruleWithinRoutes(rule, input.routes))),
    members: (members.get(organization) ?? []).sort((a, b) => byString(a.hostId, b.hostId)),
  }));
  const routes = [...input.routes];
  return { version: contentPart(JSON.stringify({ routes, organizations })), routes, organizations };
}

/** Hosts per page while listing every environment. */
const LISTING_PAGE = 1000;

/** Every environment, through the host listing's pages. */
export async function listEnvironments(store: GatewayStore): Promise<HostRecord[]> {
  const hosts: HostRecord[] = [];
  let cursor: string | undefined;
  do {
    const page = await store.listHosts({ role: 'environment', limit: LISTING_PAGE, cursor });
    hosts.push(...page.hosts);
    cursor = page.nextCursor;
  } while (cursor);
  return hosts;
}
