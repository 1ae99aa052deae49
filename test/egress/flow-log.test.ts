import { FlowLog, RefusedLog, memberIndex, parseConntrackLine, parseEgressFeed, parseRefusedSet } from '../../src/egress';

/** Recorded on an egress namespace (conntrack-tools 1.4.7, nf_conntrack_acct=1, nf_conntrack_timestamp=1). */
const NEW = '[1796220586.649955]\t    [NEW] ipv4     2 tcp      6 120 SYN_SENT src=10.42.0.5 dst=10.99.0.10 sport=41352 dport=8000 [UNREPLIED] src=10.99.0.10 dst=192.0.2.1 sport=8000 dport=41352 id=4235774341';
const DESTROY =
  '[1796220593.549984]\t[DESTROY] ipv4     2 tcp      6 TIME_WAIT src=10.42.0.5 dst=10.99.0.10 sport=41352 dport=8000 packets=6 bytes=3320 src=10.99.0.10 dst=192.0.2.1 sport=8000 dport=41352 packets=4 bytes=3216 [ASSURED] delta-time=1 id=4235774341';
const UDP_DELETED =
  '[1796220358.907687]\t[DESTROY] ipv4     2 udp      17 28 src=10.42.0.6 dst=10.99.0.20 sport=47053 dport=53 packets=1 bytes=33 [UNREPLIED] src=10.99.0.20 dst=192.0.2.1 sport=53 dport=47053 packets=0 bytes=0 delta-time=4 id=4247086920 [USERSPACE] portid=4017852702 progname=conntrack';
const ICMP_LISTED = 'ipv4     2 icmp     1 29 src=10.42.0.5 dst=10.99.0.10 type=8 code=0 id=31 packets=1 bytes=84 src=10.99.0.10 dst=192.0.2.1 type=0 code=0 id=31 packets=1 bytes=84 mark=0 delta-time=1 use=1 id=1234567';
const LOCAL = '[1796220357.746069]\t    [NEW] ipv4     2 tcp      6 120 SYN_SENT src=127.0.0.1 dst=127.0.0.1 sport=36332 dport=8000 [UNREPLIED] src=127.0.0.1 dst=127.0.0.1 sport=8000 dport=36332 id=87298880';
const INBOUND_OVERLAY = '[1796220357.9]\t    [NEW] ipv4     2 tcp      6 120 SYN_SENT src=10.42.0.9 dst=10.42.0.1 sport=5000 dport=22 [UNREPLIED] src=10.42.0.1 dst=10.42.0.9 sport=22 dport=5000 id=99';

const OVERLAY = { base: (10 << 24) + (42 << 16), prefix: 16 };
const FEED = parseEgressFeed({
  version: '1',
  routes: ['10.99.0.0/24'],
  organizations: [
    { organization: 'acme', rules: [], members: [{ hostId: 'h1', name: 'dev1', ip: '10.42.0.5' }] },
    { organization: 'globex', rules: [], members: [{ hostId: 'h2', name: 'dev2', ip: '10.42.0.6' }] },
  ],
});

describe('parseConntrackLine', () => {
  it.each([
    ['a NEW event', NEW, { event: 'NEW', time: new Date(1796220586650), proto: 'tcp', original: { src: '10.42.0.5', dst: '10.99.0.10', sport: 41352, dport: 8000 }, reply: { src: '10.99.0.10', dst: '192.0.2.1', sport: 8000, dport: 41352 }, id: '4235774341', deltaSeconds: undefined, state: 'SYN_SENT' }],
    [
      'a DESTROY event with counters and no timeout field',
      DESTROY,
      { event: 'DESTROY', time: new Date(1796220593550), proto: 'tcp', original: { src: '10.42.0.5', dst: '10.99.0.10', sport: 41352, dport: 8000, packets: 6, bytes: 3320 }, reply: { src: '10.99.0.10', dst: '192.0.2.1', sport: 8000, dport: 41352, packets: 4, bytes: 3216 }, id: '4235774341', deltaSeconds: 1, state: 'TIME_WAIT' },
    ],
    [
      'an ICMP listing, whose tuples carry an echo id of their own',
      ICMP_LISTED,
      { event: undefined, time: undefined, proto: 'icmp', original: { src: '10.42.0.5', dst: '10.99.0.10', packets: 1, bytes: 84 }, reply: { src: '10.99.0.10', dst: '192.0.2.1', packets: 1, bytes: 84 }, id: '1234567', deltaSeconds: 1 },
    ],
  ])('reads %s', (_what, line, expected) => {
    expect(parseConntrackLine(line)).toEqual(expected);
  });

  it.each([
    ['the summary line', 'conntrack v1.4.7 (conntrack-tools): 2 flow events have been shown.'],
    ['an empty line', ''],
    ['an IPv6 entry', 'ipv6     10 tcp      6 118 TIME_WAIT src=::1 dst=::1 sport=1 dport=2 src=::1 dst=::1 sport=2 dport=1 id=3'],
    ['a line with one tuple', 'tcp      6 118 TIME_WAIT src=10.0.0.1 dst=10.0.0.2 sport=1 dport=2'],
    ['a non-numeric port', 'tcp      6 118 TIME_WAIT src=10.0.0.1 dst=10.0.0.2 sport=x dport=2 src=10.0.0.2 dst=10.0.0.1 sport=2 dport=1'],
  ])('ignores %s', (_what, line) => {
    expect(parseConntrackLine(line)).toBeUndefined();
  });
});

describe('FlowLog', () => {
  const observe = (log: FlowLog, ...lines: string[]) => lines.map((l) => log.observe(parseConntrackLine(l)!, memberIndex(FEED)));

  it('writes one record when an egress flow ends: host, organisation, tuple, start from its NEW event, bytes each way', () => {
    const log = new FlowLog(OVERLAY);
    const [atNew, atEnd] = observe(log, NEW, DESTROY);
    expect(atNew).toBeUndefined();
    expect(atEnd).toEqual({
      event: 'egress_flow',
      hostId: 'h1',
      name: 'dev1',
      organization: 'acme',
      source: '10.42.0.5',
      sourcePort: 41352,
      destination: '10.99.0.10',
      proto: 'tcp',
      port: 8000,
      start: '2026-12-02T14:09:46.650Z',
      end: '2026-12-02T14:09:53.550Z',
      bytesOut: 3320,
      bytesIn: 3216,
      packetsOut: 6,
      packetsIn: 4,
    });
    expect(log.open).toBe(0);
  });

  it('takes the start from delta-time when the NEW event was missed (the node started later)', () => {
    const [record] = observe(new FlowLog(OVERLAY), UDP_DELETED);
    expect(record).toMatchObject({ hostId: 'h2', organization: 'globex', proto: 'udp', port: 53, start: '2026-12-02T14:05:54.908Z', end: '2026-12-02T14:05:58.908Z', bytesOut: 33, bytesIn: 0 });
  });

  it('names no host for a source outside the feed, and still logs the flow', () => {
    const other = DESTROY.replaceAll('10.42.0.5', '10.42.0.77');
    const [record] = observe(new FlowLog(OVERLAY), other);
    expect(record).toMatchObject({ hostId: null, name: null, organization: null, source: '10.42.0.77' });
  });

  it('ignores what is not egress: local traffic, traffic to the node itself over the overlay', () => {
    const log = new FlowLog(OVERLAY);
    expect(observe(log, LOCAL, INBOUND_OVERLAY, LOCAL.replace('[NEW]', '[DESTROY]'))).toEqual([undefined, undefined, undefined]);
    expect(log.open).toBe(0);
  });
});

/** Recorded: `nft -j list set inet gateway_egress refused` after three refused attempts. */
const REFUSED_JSON = JSON.stringify({
  nftables: [
    { metainfo: { version: '1.0.6', release_name: 'Lester Gooch #5', json_schema_version: 1 } },
    {
      set: {
        family: 'inet',
        name: 'refused',
        table: 'gateway_egress',
        type: ['ipv4_addr', 'ipv4_addr', 'inet_proto', 'inet_service'],
        handle: 5,
        size: 65536,
        flags: ['timeout'],
        timeout: 60,
        elem: [
          { elem: { val: { concat: ['10.42.0.5', '10.99.0.20', 'udp', 53] }, expires: 55, counter: { packets: 1, bytes: 30 } } },
          { elem: { val: { concat: ['10.42.0.5', '10.99.0.20', 'tcp', 8000] }, expires: 55, counter: { packets: 2, bytes: 120 } } },
          { elem: { val: { concat: ['10.42.0.6', '10.99.0.10', 'tcp', 8001] }, expires: 53, counter: { packets: 2, bytes: 120 } } },
        ],
        stmt: [{ counter: null }],
      },
    },
  ],
});
const EMPTY_SET_JSON = '{"nftables": [{"metainfo": {"version": "1.0.6", "release_name": "Lester Gooch #5", "json_schema_version": 1}}, {"set": {"family": "inet", "name": "refused", "table": "gateway_egress", "type": ["ipv4_addr", "ipv4_addr", "inet_proto", "inet_service"], "handle": 6, "size": 65536, "flags": ["timeout"], "timeout": 60, "stmt": [{"counter": null}]}}]}';

describe('refusals', () => {
  it('reads the refused set, numeric protocols included', () => {
    expect(parseRefusedSet(REFUSED_JSON)).toEqual([
      { source: '10.42.0.5', destination: '10.99.0.20', proto: 'udp', port: 53, packets: 1 },
      { source: '10.42.0.5', destination: '10.99.0.20', proto: 'tcp', port: 8000, packets: 2 },
      { source: '10.42.0.6', destination: '10.99.0.10', proto: 'tcp', port: 8001, packets: 2 },
    ]);
    expect(parseRefusedSet(REFUSED_JSON.replace('"tcp", 8001', '6, 8001'))[2].proto).toBe('tcp');
    expect(parseRefusedSet(EMPTY_SET_JSON)).toEqual([]);
  });

  it('logs a tuple once while it stays in the set, and again after it left it', () => {
    const log = new RefusedLog();
    const sources = memberIndex(FEED);
    const now = new Date('2026-12-02T14:00:00Z');
    const first = log.observe(parseRefusedSet(REFUSED_JSON), sources, now);
    expect(first).toHaveLength(3);
    expect(first[2]).toEqual({ event: 'egress_flow_refused', hostId: 'h2', name: 'dev2', organization: 'globex', source: '10.42.0.6', destination: '10.99.0.10', proto: 'tcp', port: 8001, packets: 2, time: '2026-12-02T14:00:00.000Z' });
    expect(log.observe(parseRefusedSet(REFUSED_JSON), sources, now)).toEqual([]);
    expect(log.observe(parseRefusedSet(EMPTY_SET_JSON), sources, now)).toEqual([]);
    expect(log.observe(parseRefusedSet(REFUSED_JSON), sources, now)).toHaveLength(3);
  });
});
