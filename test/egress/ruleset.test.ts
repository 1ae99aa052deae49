import { execFileSync, spawnSync } from 'node:child_process';
import { EMPTY_FEED, type EgressFeed, parseEgressFeed, renderRuleset } from '../../src/egress';
import { describeNeeding } from '../support/prerequisites';

const HEAD = ['table inet gateway_egress', 'delete table inet gateway_egress', 'table inet gateway_egress {'];
const REFUSED = [
  '\tset refused {',
  '\t\ttype ipv4_addr . ipv4_addr . inet_proto . inet_service',
  '\t\tsize 65536',
  '\t\tflags dynamic,timeout',
  '\t\ttimeout 60s',
  '\t\tcounter',
  '\t}',
  '\tcounter refused_packets {',
  '\t}',
  '\tchain forward {',
  '\t\ttype filter hook forward priority filter; policy drop;',
  '\t\tct state established,related accept',
];
const TAIL = (tun: string) => [
  `\t\tiifname "${tun}" meta l4proto { tcp, udp } update @refused { ip saddr . ip daddr . meta l4proto . th dport }`,
  `\t\tiifname "${tun}" meta l4proto tcp counter name refused_packets reject with tcp reset`,
  '\t\tcounter name refused_packets drop',
  '\t}',
  '\tchain postrouting {',
  '\t\ttype nat hook postrouting priority srcnat; policy accept;',
  `\t\tiifname "${tun}" oifname != "${tun}" masquerade`,
  '\t}',
  '}',
];

const TWO_ORGS: EgressFeed = parseEgressFeed({
  version: '12',
  routes: ['10.99.0.0/24', '172.31.0.0/16'],
  organizations: [
    {
      organization: 'acme corp',
      rules: [
        { cidr: '10.99.0.10/32', proto: 'tcp', ports: '5432' },
        { cidr: '10.99.0.0/24', proto: 'udp', ports: '8000-8100' },
        { cidr: '172.31.0.0/16', proto: 'any', ports: '443' },
        { cidr: '10.99.0.20/32', proto: 'any', ports: 'any' },
        { cidr: '10.99.0.30/32', proto: 'tcp', ports: 'any' },
      ],
      members: [
        { hostId: 'h1', name: 'dev1', ip: '10.42.0.5' },
        { hostId: 'h2', name: 'dev2', ip: '10.42.0.6' },
      ],
    },
    { organization: 'globex"; flush ruleset', rules: [{ cidr: '10.99.0.0/24', proto: 'tcp', ports: 'any' }], members: [] },
  ],
});

const CASES: Array<[string, EgressFeed, string, string[]]> = [
  [
    'nothing allowed: every packet from the overlay is refused',
    EMPTY_FEED,
    'nebula1',
    [...HEAD, '\tcomment "gateway egress policy none"', ...REFUSED, '\t\tiifname != "nebula1" oifname != "nebula1" accept', ...TAIL('nebula1')],
  ],
  [
    'one rule per accept line, per organisation set; an organisation without members adds no rule; comments cannot break out',
    TWO_ORGS,
    'neb0',
    [
      ...HEAD,
      '\tcomment "gateway egress policy 12"',
      '\tset org_0 {',
      '\t\ttype ipv4_addr',
      '\t\tcomment "acme corp"',
      '\t\telements = { 10.42.0.5, 10.42.0.6 }',
      '\t}',
      '\tset org_1 {',
      '\t\ttype ipv4_addr',
      '\t\tcomment "globex__ flush ruleset"',
      '\t}',
      ...REFUSED,
      '\t\tiifname != "neb0" oifname != "neb0" accept',
      '\t\tiifname "neb0" ip saddr @org_0 ip daddr 10.99.0.10/32 tcp dport 5432 accept',
      '\t\tiifname "neb0" ip saddr @org_0 ip daddr 10.99.0.0/24 udp dport 8000-8100 accept',
      '\t\tiifname "neb0" ip saddr @org_0 ip daddr 172.31.0.0/16 meta l4proto { tcp, udp } th dport 443 accept',
      '\t\tiifname "neb0" ip saddr @org_0 ip daddr 10.99.0.20/32 accept',
      '\t\tiifname "neb0" ip saddr @org_0 ip daddr 10.99.0.30/32 meta l4proto tcp accept',
      ...TAIL('neb0'),
    ],
  ],
];

describe('renderRuleset', () => {
  it.each(CASES)('%s', (_what, feed, tunDevice, lines) => {
    expect(renderRuleset(feed, { tunDevice }).split('\n')).toEqual([...lines, '']);
  });

  it.each(['', 'nebula1"; flush ruleset', 'a-very-long-interface-name'])('refuses the tun device name %j', (tunDevice) => {
    expect(() => renderRuleset(EMPTY_FEED, { tunDevice })).toThrow('is not a Linux interface name');
  });
});

describeNeeding(['root', 'ip', 'nft'])('the rendered rulesets, loaded by nft in a namespace of their own', () => {
  const ns = `egu${process.pid}`;
  beforeAll(() => execFileSync('ip', ['netns', 'add', ns]));
  afterAll(() => spawnSync('ip', ['netns', 'del', ns]));

  const nft = (args: string[], input = '') => spawnSync('ip', ['netns', 'exec', ns, 'nft', ...args], { input, encoding: 'utf8' });

  it.each(CASES)('passes nft -c (check mode): %s', (_what, feed, tunDevice) => {
    const result = nft(['-c', '-f', '-'], renderRuleset(feed, { tunDevice }));
    expect({ status: result.status, stderr: result.stderr }).toEqual({ status: 0, stderr: '' });
  });

  it('applies atomically and replaces itself: applying twice leaves one table with the second policy', () => {
    expect(nft(['-f', '-'], renderRuleset(TWO_ORGS, { tunDevice: 'nebula1' })).status).toBe(0);
    expect(nft(['-f', '-'], renderRuleset(EMPTY_FEED, { tunDevice: 'nebula1' })).status).toBe(0);
    const listed = nft(['list', 'ruleset']).stdout;
    expect(listed.match(/table inet gateway_egress/g)).toHaveLength(1);
    expect(listed).toContain('gateway egress policy none');
    expect(listed).not.toContain('org_0');
  });

  it('a script nft refuses changes nothing (one transaction)', () => {
    expect(nft(['-f', '-'], renderRuleset(TWO_ORGS, { tunDevice: 'nebula1' })).status).toBe(0);
    const broken = renderRuleset(EMPTY_FEED, { tunDevice: 'nebula1' }).replace('policy drop;', 'policy dorp;');
    expect(nft(['-f', '-'], broken).status).not.toBe(0);
    expect(nft(['list', 'ruleset']).stdout).toContain('gateway egress policy 12');
  });
});
