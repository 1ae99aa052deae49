import { EgressFeedError, parseEgressFeed } from '../../src/egress';

const member = { hostId: 'h1', name: 'dev1', ip: '10.42.0.5' };
const valid = {
  version: '7',
  routes: ['10.99.0.0/24'],
  organizations: [{ organization: 'acme', rules: [{ cidr: '10.99.0.10/32', proto: 'tcp', ports: '5432' }], members: [member] }],
};

function withOrg(org: Record<string, unknown>): unknown {
  return { ...valid, organizations: [{ ...valid.organizations[0], ...org }] };
}

describe('parseEgressFeed', () => {
  it('normalises what the API sends: numeric version and port, an address with its prefix, a bare address as /32', () => {
    const feed = parseEgressFeed({
      version: 3,
      routes: ['10.99.0.0/24'],
      organizations: [{ organization: 'acme', rules: [{ cidr: '10.99.0.10', proto: 'udp', ports: 53 }, { cidr: '10.99.0.0/24', proto: 'any', ports: '8000-8100' }, { cidr: '0.0.0.0/0', proto: 'any', ports: 'any' }], members: [{ ...member, ip: '10.42.0.5/16' }] }],
    });
    expect(feed).toEqual({
      version: '3',
      routes: ['10.99.0.0/24'],
      organizations: [
        {
          organization: 'acme',
          rules: [
            { cidr: '10.99.0.10/32', proto: 'udp', ports: { from: 53, to: 53 } },
            { cidr: '10.99.0.0/24', proto: 'any', ports: { from: 8000, to: 8100 } },
            { cidr: '0.0.0.0/0', proto: 'any', ports: 'any' },
          ],
          members: [member],
        },
      ],
    });
  });

  it.each([
    ['not an object', 'x', 'feed'],
    ['no version', { ...valid, version: '' }, 'version'],
    ['routes not a list', { ...valid, routes: '10.99.0.0/24' }, 'routes'],
    ['a route with host bits', { ...valid, routes: ['10.99.0.1/24'] }, 'routes[0]'],
    ['a route that is no CIDR', { ...valid, routes: ['10.99.0.0/33'] }, 'routes[0]'],
    ['nft syntax in a CIDR', withOrg({ rules: [{ cidr: '10.0.0.0/8 accept', proto: 'tcp', ports: '1' }] }), 'organizations[0].rules[0].cidr'],
    ['an unknown protocol', withOrg({ rules: [{ cidr: '10.0.0.0/8', proto: 'icmp', ports: 'any' }] }), 'organizations[0].rules[0].proto'],
    ['port 0', withOrg({ rules: [{ cidr: '10.0.0.0/8', proto: 'tcp', ports: '0' }] }), 'organizations[0].rules[0].ports'],
    ['port 65536', withOrg({ rules: [{ cidr: '10.0.0.0/8', proto: 'tcp', ports: '65536' }] }), 'organizations[0].rules[0].ports'],
    ['a reversed range', withOrg({ rules: [{ cidr: '10.0.0.0/8', proto: 'tcp', ports: '90-80' }] }), 'organizations[0].rules[0].ports'],
    ['a port list', withOrg({ rules: [{ cidr: '10.0.0.0/8', proto: 'tcp', ports: '80,443' }] }), 'organizations[0].rules[0].ports'],
    ['a member without an address', withOrg({ members: [{ hostId: 'h', name: 'n', ip: 'dev1' }] }), 'organizations[0].members[0].ip'],
    ['a member name with a newline', withOrg({ members: [{ ...member, name: 'a\nb' }] }), 'organizations[0].members[0].name'],
    ['an empty organization name', withOrg({ organization: '' }), 'organizations[0].organization'],
  ])('refuses %s, naming the field', (_what, input, field) => {
    let error: unknown;
    try {
      parseEgressFeed(input);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(EgressFeedError);
    expect((error as EgressFeedError).field).toBe(field);
  });

  it('refuses one source address in two organisations (its policy would be ambiguous)', () => {
    const feed = { ...valid, organizations: [valid.organizations[0], { organization: 'other', rules: [], members: [{ ...member, hostId: 'h2' }] }] };
    expect(() => parseEgressFeed(feed)).toThrow("organizations[1].members: 10.42.0.5 is also a member of 'acme'");
  });
});
