import { type EgressRule, ruleWithinRoutes, sortRules } from '../mesh/egress-policy';
import { type EgressMemberRecord, type EgressPolicyRecord, type GatewayStore, NetworkNotInitialisedError } from '../store';
import { contentPart } from './etag';
import { VersionedCache } from './versioned-cache';

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
 * not revoked whose owner is in the organisation (the store keeps exactly those as members; an
 * environment without an owner belongs to none and gets no egress), sorted by host id; rules
 * outside the routes are left out (no traffic to them reaches an egress node).
 */
export function buildEgressFeed(input: {
  routes: readonly string[];
  policies: readonly EgressPolicyRecord[];
  members: readonly EgressMemberRecord[];
}): EgressFeed {
  const members = new Map<string, EgressMember[]>();
  for (const member of input.members) {
    const list = members.get(member.organization) ?? [];
    list.push({ hostId: member.hostId, name: member.name, ip: member.ip });
    members.set(member.organization, list);
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

/**
 * The feed as of the store's egress version: each request reads the version (one strongly
 * consistent GetItem, so every API instance sees every other's changes at once) and the feed is
 * read again (the network item, the policies' and the members' partitions, strongly consistent)
 * only when it moved. Concurrent requests share one read.
 */
export class EgressFeedCache {
  private readonly feeds: VersionedCache<EgressFeed>;
  private reading: Promise<EgressFeed> | undefined;

  constructor(private readonly store: GatewayStore) {
    // No staleness: a poll is one GetItem anyway, and an owner moved to another organisation must lose its egress at the next poll.
    this.feeds = new VersionedCache(() => store.getEgressVersion(), () => this.load(), 0);
  }

  current(): Promise<EgressFeed> {
    this.reading ??= this.feeds.current().finally(() => {
      this.reading = undefined;
    });
    return this.reading;
  }

  private async load(): Promise<EgressFeed> {
    const [network, policies, members] = await Promise.all([this.store.getNetwork(), this.store.listEgressPolicies(), this.store.listEgressMembers()]);
    if (!network) throw new NetworkNotInitialisedError(this.store.tableName);
    return buildEgressFeed({ routes: network.egressRoutes ?? [], policies, members });
  }
}
