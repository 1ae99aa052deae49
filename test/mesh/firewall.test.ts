import { DEFAULT_NETWORK_POLICY, type FirewallRule, MeshError, ROLES, type Role, firewallFor, parseNetworkPolicy } from '../../src/mesh';

type Proto = 'icmp' | 'tcp' | 'udp';

/** Nebula's inbound decision for the rule shapes firewallFor emits: default deny, any matching rule allows. */
function allowsInbound(rules: FirewallRule[], from: Role, proto: Proto): boolean {
  return rules.some(
    (rule) =>
      rule.port === 'any' &&
      (rule.proto === 'any' || rule.proto === proto) &&
      (rule.host === 'any' || (rule.group !== undefined && rule.group === from)),
  );
}

/** Who may open a connection to whom: [destination][source] → protocols allowed. */
const ISOLATED: Record<Role, Record<Role, Proto[]>> = {
  environment: { environment: [], lighthouse: ['icmp'], proxy: ['icmp', 'tcp'], egress: [] },
  lighthouse: { environment: ['icmp'], lighthouse: ['icmp'], proxy: ['icmp'], egress: ['icmp'] },
  proxy: { environment: ['icmp'], lighthouse: ['icmp'], proxy: ['icmp'], egress: ['icmp'] },
  // Environments' traffic to the egress routes; the egress node's own nftables enforce the policies.
  egress: { environment: ['icmp', 'tcp', 'udp'], lighthouse: ['icmp'], proxy: ['icmp'], egress: ['icmp'] },
};
const OPEN: Record<Role, Record<Role, Proto[]>> = {
  ...ISOLATED,
  environment: { ...ISOLATED.environment, environment: ['icmp', 'tcp', 'udp'] },
};

describe('firewallFor', () => {
  it.each([
    ['isolated environments (default)', { environmentsReachEachOther: false }, ISOLATED],
    ['environments reaching each other', { environmentsReachEachOther: true }, OPEN],
  ])('matches the access matrix with %s', (_, policy, matrix) => {
    for (const destination of ROLES) {
      const rules = firewallFor(destination, policy);
      expect(rules.outbound).toEqual([{ port: 'any', proto: 'any', host: 'any' }]);
      for (const source of ROLES) {
        const allowed = (['icmp', 'tcp', 'udp'] as const).filter((proto) => allowsInbound(rules.inbound, source, proto));
        expect({ destination, source, allowed }).toEqual({ destination, source, allowed: matrix[destination][source] });
      }
    }
  });

  it('emits the exact nebula rules for an environment', () => {
    expect(firewallFor('environment', DEFAULT_NETWORK_POLICY).inbound).toEqual([
      { port: 'any', proto: 'icmp', group: 'lighthouse' },
      { port: 'any', proto: 'icmp', group: 'proxy' },
      { port: 'any', proto: 'tcp', group: 'proxy' },
    ]);
    expect(firewallFor('environment', { environmentsReachEachOther: true }).inbound).toContainEqual({
      port: 'any',
      proto: 'any',
      group: 'environment',
    });
  });

  it('defaults to isolation and validates its inputs', () => {
    expect(firewallFor('environment')).toEqual(firewallFor('environment', { environmentsReachEachOther: false }));
    expect(() => firewallFor('admin' as never)).toThrow(MeshError);
    expect(() => firewallFor('environment', { environmentsReachEachOther: 'yes' } as never)).toThrow(
      'policy.environmentsReachEachOther: must be true or false',
    );
  });

  it('returns fresh objects each call', () => {
    const a = firewallFor('proxy');
    a.inbound.push({ port: 'any', proto: 'any', host: 'any' });
    expect(firewallFor('proxy').inbound).toHaveLength(1);
  });
});

describe('parseNetworkPolicy', () => {
  it('fills the default and rejects non-objects', () => {
    expect(parseNetworkPolicy(undefined)).toEqual({ environmentsReachEachOther: false });
    expect(parseNetworkPolicy({})).toEqual({ environmentsReachEachOther: false });
    expect(parseNetworkPolicy({ environmentsReachEachOther: true })).toEqual({ environmentsReachEachOther: true });
    for (const bad of [null, [], 'open', 1]) {
      expect(() => parseNetworkPolicy(bad)).toThrow('policy: must be an object');
    }
  });
});
