import { allows, deleteArguments, flowsToCut, parseConntrackLine, parseEgressFeed } from '../../src/egress';

const FEED = parseEgressFeed({
  version: '1',
  routes: ['10.99.0.0/24'],
  organizations: [
    {
      organization: 'acme',
      rules: [
        { cidr: '10.99.0.10/32', proto: 'tcp', ports: '8000' },
        { cidr: '10.99.0.0/24', proto: 'udp', ports: '5000-5010' },
        { cidr: '10.99.0.30/32', proto: 'any', ports: '443' },
        { cidr: '10.99.0.40/32', proto: 'any', ports: 'any' },
      ],
      members: [{ hostId: 'h1', name: 'dev1', ip: '10.42.0.5' }],
    },
    { organization: 'globex', rules: [], members: [{ hostId: 'h2', name: 'dev2', ip: '10.42.0.6' }] },
  ],
});

describe('allows (the decision the ruleset renders)', () => {
  it.each([
    ['10.42.0.5', '10.99.0.10', 'tcp', 8000, true],
    ['10.42.0.5', '10.99.0.10', 'tcp', 8001, false],
    ['10.42.0.5', '10.99.0.10', 'udp', 8000, false],
    ['10.42.0.5', '10.99.0.11', 'tcp', 8000, false],
    ['10.42.0.5', '10.99.0.99', 'udp', 5000, true],
    ['10.42.0.5', '10.99.0.99', 'udp', 5010, true],
    ['10.42.0.5', '10.99.0.99', 'udp', 5011, false],
    ['10.42.0.5', '10.99.0.99', 'udp', 4999, false],
    ['10.42.0.5', '10.99.0.30', 'tcp', 443, true],
    ['10.42.0.5', '10.99.0.30', 'udp', 443, true],
    ['10.42.0.5', '10.99.0.30', 'icmp', undefined, false],
    ['10.42.0.5', '10.99.0.40', 'icmp', undefined, true],
    ['10.42.0.6', '10.99.0.10', 'tcp', 8000, false],
    ['10.42.0.7', '10.99.0.40', 'tcp', 80, false],
  ])('%s → %s %s/%s: %s', (source, destination, proto, port, expected) => {
    expect(allows(FEED, { source, destination, proto, port })).toBe(expected);
  });
});

const entry = (src: string, dst: string, dport: number, state = 'ESTABLISHED', sport = 40000) =>
  parseConntrackLine(`ipv4     2 tcp      6 431999 ${state} src=${src} dst=${dst} sport=${sport} dport=${dport} packets=3 bytes=180 src=${dst} dst=192.0.2.1 sport=${dport} dport=${sport} packets=2 bytes=120 [ASSURED] mark=0 use=1 id=5`)!;

describe('flowsToCut', () => {
  const overlay = { base: (10 << 24) + (42 << 16), prefix: 16 };
  const allowed = entry('10.42.0.5', '10.99.0.10', 8000);
  const nowRefused = entry('10.42.0.5', '10.99.0.11', 8000);
  const nowRefusedClosing = entry('10.42.0.5', '10.99.0.11', 8000, 'FIN_WAIT', 40001);
  const otherOrg = entry('10.42.0.6', '10.99.0.10', 8000);
  const ended = entry('10.42.0.6', '10.99.0.10', 8000, 'TIME_WAIT', 40002);
  const toTheNode = entry('10.42.0.6', '10.42.0.1', 22);
  const notFromOverlay = entry('192.0.2.9', '10.99.0.11', 8000);
  const udp = parseConntrackLine('udp      17 28 src=10.42.0.6 dst=10.99.0.20 sport=47053 dport=53 packets=1 bytes=33 src=10.99.0.20 dst=192.0.2.1 sport=53 dport=47053 packets=1 bytes=60 mark=0 use=1 id=6')!;

  it('cuts the live egress flows the policy refuses, and only those', () => {
    expect(flowsToCut([allowed, nowRefused, nowRefusedClosing, otherOrg, ended, toTheNode, notFromOverlay, udp], FEED, overlay)).toEqual([nowRefused, nowRefusedClosing, otherOrg, udp]);
  });

  it('deletes by protocol, source, destination and port: one call for many connections alike', () => {
    const icmp = parseConntrackLine('icmp     1 29 src=10.42.0.5 dst=10.99.0.10 type=8 code=0 id=31 src=10.99.0.10 dst=192.0.2.1 type=0 code=0 id=31 mark=0 use=1')!;
    expect(deleteArguments([nowRefused, nowRefusedClosing, otherOrg, icmp])).toEqual([
      ['-D', '-p', 'tcp', '-s', '10.42.0.5', '-d', '10.99.0.11', '--dport', '8000'],
      ['-D', '-p', 'tcp', '-s', '10.42.0.6', '-d', '10.99.0.10', '--dport', '8000'],
      ['-D', '-p', 'icmp', '-s', '10.42.0.5', '-d', '10.99.0.10'],
    ]);
  });
});
