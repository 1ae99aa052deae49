import { MeshError } from './errors';
import { parseRole, type Role } from './roles';

/** Network-wide settings that shape every host's firewall. */
export interface NetworkPolicy {
  /** Let environments reach each other on any port; by default they are isolated from each other. */
  environmentsReachEachOther: boolean;
}

export const DEFAULT_NETWORK_POLICY: Readonly<NetworkPolicy> = Object.freeze({ environmentsReachEachOther: false });

/** One nebula firewall rule; exactly one of `host` and `group` is set in the rules made here. */
export interface FirewallRule {
  port: 'any';
  proto: 'any' | 'tcp' | 'udp' | 'icmp';
  host?: 'any';
  group?: Role;
}

export interface FirewallRules {
  outbound: FirewallRule[];
  inbound: FirewallRule[];
}

export function parseNetworkPolicy(value: unknown, field = 'policy'): NetworkPolicy {
  if (value === undefined) return { ...DEFAULT_NETWORK_POLICY };
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new MeshError(field, 'must be an object such as {"environmentsReachEachOther": false}');
  }
  const reach = (value as Record<string, unknown>).environmentsReachEachOther;
  if (reach !== undefined && typeof reach !== 'boolean') {
    throw new MeshError(`${field}.environmentsReachEachOther`, 'must be true or false');
  }
  return { environmentsReachEachOther: reach ?? false };
}

/**
 * The nebula firewall for a role. Nebula denies by default and tracks connections, so replies
 * to outbound traffic pass; only unsolicited inbound traffic needs a rule. Environments accept
 * TCP from proxies (which forward users' HTTPS requests) and ping from proxies and lighthouses;
 * lighthouses and proxies accept ping from anyone in the mesh. Egress nodes accept anything from
 * environments (whose traffic they route onwards): nebula only admits environments there, and the
 * egress node itself enforces each organisation's egress policy (nftables), which a certificate
 * group cannot express; they accept ping from anyone, like proxies.
 */
export function firewallFor(role: Role, policy: NetworkPolicy = DEFAULT_NETWORK_POLICY): FirewallRules {
  const checkedRole = parseRole(role);
  const { environmentsReachEachOther } = parseNetworkPolicy(policy);
  const outbound: FirewallRule[] = [{ port: 'any', proto: 'any', host: 'any' }];
  switch (checkedRole) {
    case 'environment': {
      const inbound: FirewallRule[] = [
        { port: 'any', proto: 'icmp', group: 'lighthouse' },
        { port: 'any', proto: 'icmp', group: 'proxy' },
        { port: 'any', proto: 'tcp', group: 'proxy' },
      ];
      if (environmentsReachEachOther) inbound.push({ port: 'any', proto: 'any', group: 'environment' });
      return { outbound, inbound };
    }
    case 'lighthouse':
    case 'proxy':
      return { outbound, inbound: [{ port: 'any', proto: 'icmp', host: 'any' }] };
    case 'egress':
      return {
        outbound,
        inbound: [
          { port: 'any', proto: 'icmp', host: 'any' },
          { port: 'any', proto: 'any', group: 'environment' },
        ],
      };
  }
}
