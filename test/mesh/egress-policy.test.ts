import {
  Ipv4Cidr,
  MAX_EGRESS_ROUTES,
  MAX_EGRESS_RULES,
  parseEgressRoutes,
  parseEgressRule,
  parseEgressRules,
  parsePorts,
  parseRuleSpec,
  rulesOutsideRoutes,
  sortRules,
} from '../../src/mesh';
import { meshError } from './mesh-error';

/** Egress routes and policies: pure validation and normalisation, as tables. */

const OVERLAY = Ipv4Cidr.parse('10.42.0.0/16');

describe('parseEgressRoutes', () => {
  it.each([
    [[], []],
    [['10.0.0.0/16'], ['10.0.0.0/16']],
    [['192.168.5.0/24', '10.0.0.0/16', '10.0.0.0/16'], ['10.0.0.0/16', '192.168.5.0/24']],
    [['172.31.0.5/32', '10.43.0.0/16'], ['10.43.0.0/16', '172.31.0.5/32']],
    [['11.0.0.0/8'], ['11.0.0.0/8']],
  ])('%j → %j (canonical: sorted, without duplicates)', (input, expected) => {
    expect(parseEgressRoutes(input, OVERLAY)).toEqual(expected);
  });

  it.each([
    ['not a list', '10.0.0.0/16', 'routes', 'must be a list'],
    ['a number', [42], 'routes[0]', 'must be a string'],
    ['no prefix', ['10.0.0.0'], 'routes[0]', 'has no prefix length'],
    ['host bits', ['10.0.0.1/16'], 'routes[0]', 'did you mean 10.0.0.0/16'],
    ['prefix over 32', ['10.0.0.0/33'], 'routes[0]', 'invalid prefix length'],
    ['a bad address', ['10.0.0.256/24'], 'routes[0]', 'octet 256'],
    ['the default route', ['0.0.0.0/0'], 'routes[0]', "nebula's own underlay traffic"],
    ['half the internet', ['10.0.0.0/16', '0.0.0.0/1'], 'routes[1]', "nebula's own underlay traffic"],
    ['the overlay itself', ['10.42.0.0/16'], 'routes[0]', 'overlaps the overlay network 10.42.0.0/16'],
    ['a network holding the overlay', ['10.0.0.0/8'], 'routes[0]', 'overlaps the overlay network'],
    ['a host of the overlay', ['10.42.3.4/32'], 'routes[0]', 'overlaps the overlay network'],
    ['loopback', ['127.0.0.0/8'], 'routes[0]', 'loopback'],
    ['EC2 metadata', ['169.254.169.254/32'], 'routes[0]', 'link-local'],
    ['multicast', ['239.1.0.0/16'], 'routes[0]', 'multicast'],
    ['overlapping routes', ['192.168.0.0/16', '10.1.0.0/16', '192.168.7.0/24'], 'routes[2]', "overlaps routes[0] '192.168.0.0/16'"],
    ['overlapping routes, wider one later', ['192.168.7.0/24', '192.168.0.0/16'], 'routes[1]', "overlaps routes[0] '192.168.7.0/24'"],
  ])('refuses %s, naming %s', (_, input, field, message) => {
    const error = meshError(() => parseEgressRoutes(input, OVERLAY));
    expect(error.field).toBe(field);
    expect(error.message).toContain(message);
  });

  it('takes at most MAX_EGRESS_ROUTES routes', () => {
    const routes = Array.from({ length: MAX_EGRESS_ROUTES + 1 }, (_, i) => `172.16.${i}.0/24`);
    expect(parseEgressRoutes(routes.slice(0, MAX_EGRESS_ROUTES), OVERLAY)).toHaveLength(MAX_EGRESS_ROUTES);
    const error = meshError(() => parseEgressRoutes(routes, OVERLAY));
    expect(error.field).toBe('routes');
    expect(error.message).toContain(`at most ${MAX_EGRESS_ROUTES}`);
  });
});

describe('parsePorts', () => {
  it.each([
    ['any', 'any'],
    ['5432', '5432'],
    [5432, '5432'],
    ['1', '1'],
    ['65535', '65535'],
    ['8000-8100', '8000-8100'],
    ['443-443', '443'],
  ])('%j → %j', (input, expected) => {
    expect(parsePorts(input, 'ports')).toBe(expected);
  });

  it.each([['0'], ['65536'], ['080'], ['-5'], ['5-'], ['100-99'], ['1-2-3'], ['ANY'], [''], [null], [' 80']])('refuses %j', (input) => {
    expect(meshError(() => parsePorts(input, 'rules[0].ports')).field).toBe('rules[0].ports');
  });
});

describe('parseEgressRule and parseEgressRules', () => {
  it.each([
    [{ cidr: '10.0.0.0/16', proto: 'tcp', ports: '5432' }, { cidr: '10.0.0.0/16', proto: 'tcp', ports: '5432' }],
    [{ cidr: '10.0.0.9/32', proto: 'udp', ports: '53-53' }, { cidr: '10.0.0.9/32', proto: 'udp', ports: '53' }],
    [{ cidr: '10.0.0.0/16', proto: 'any' }, { cidr: '10.0.0.0/16', proto: 'any', ports: 'any' }],
    [{ cidr: '10.0.0.0/16', proto: 'tcp', ports: 'any' }, { cidr: '10.0.0.0/16', proto: 'tcp', ports: 'any' }],
  ])('%j → %j', (input, expected) => {
    expect(parseEgressRule(input, 'rules[0]')).toEqual(expected);
  });

  it.each([
    ['not an object', 'tcp', 'rules[0]'],
    ['an unknown field', { cidr: '10.0.0.0/16', proto: 'tcp', port: '1' }, 'rules[0].port'],
    ['a missing cidr', { proto: 'tcp' }, 'rules[0].cidr'],
    ['host bits', { cidr: '10.0.0.1/16', proto: 'tcp' }, 'rules[0].cidr'],
    ['an unknown protocol', { cidr: '10.0.0.0/16', proto: 'icmp' }, 'rules[0].proto'],
    ['ports with any protocol', { cidr: '10.0.0.0/16', proto: 'any', ports: '22' }, 'rules[0].ports'],
    ['bad ports', { cidr: '10.0.0.0/16', proto: 'tcp', ports: '70000' }, 'rules[0].ports'],
  ])('refuses %s, naming %s', (_, input, field) => {
    expect(meshError(() => parseEgressRule(input, 'rules[0]')).field).toBe(field);
  });

  it('keeps the given order, so later checks name the right index, and names the failing one', () => {
    const rules = parseEgressRules([
      { cidr: '10.1.0.0/16', proto: 'tcp', ports: '443' },
      { cidr: '10.0.0.0/16', proto: 'udp', ports: '53' },
    ]);
    expect(rules.map((r) => r.cidr)).toEqual(['10.1.0.0/16', '10.0.0.0/16']);
    expect(meshError(() => parseEgressRules([{ cidr: '10.0.0.0/16', proto: 'tcp' }, { cidr: 'x', proto: 'tcp' }])).field).toBe('rules[1].cidr');
    expect(meshError(() => parseEgressRules({})).field).toBe('rules');
    const tooMany = Array.from({ length: MAX_EGRESS_RULES + 1 }, () => ({ cidr: '10.0.0.0/16', proto: 'any' }));
    expect(meshError(() => parseEgressRules(tooMany)).message).toContain(`at most ${MAX_EGRESS_RULES}`);
  });

  it('sorts by network, protocol and ports, without duplicates', () => {
    const sorted = sortRules([
      { cidr: '10.1.0.0/16', proto: 'tcp', ports: '443' },
      { cidr: '10.0.0.0/16', proto: 'udp', ports: '53' },
      { cidr: '10.0.0.0/16', proto: 'tcp', ports: '8000-8100' },
      { cidr: '10.0.0.0/16', proto: 'tcp', ports: '22' },
      { cidr: '10.0.0.0/24', proto: 'any', ports: 'any' },
      { cidr: '10.0.0.0/16', proto: 'tcp', ports: '22' },
    ]);
    expect(sorted.map((r) => `${r.proto}:${r.cidr}:${r.ports}`)).toEqual([
      'tcp:10.0.0.0/16:22',
      'tcp:10.0.0.0/16:8000-8100',
      'udp:10.0.0.0/16:53',
      'any:10.0.0.0/24:any',
      'tcp:10.1.0.0/16:443',
    ]);
  });
});

describe('rulesOutsideRoutes', () => {
  const ROUTES = ['10.0.0.0/16', '192.168.1.0/24'];
  it.each([
    ['inside a route', '10.0.5.0/24', true],
    ['the route itself', '10.0.0.0/16', true],
    ['one address of a route', '192.168.1.7/32', true],
    ['wider than its route', '10.0.0.0/15', false],
    ['beside the routes', '10.2.0.0/16', false],
    ['straddling two', '192.168.0.0/23', false],
  ])('%s (%s): inside = %s', (_, cidr, inside) => {
    const outside = rulesOutsideRoutes([{ cidr: '10.0.0.0/24', proto: 'tcp', ports: '1' }, { cidr, proto: 'tcp', ports: '1' }], ROUTES);
    expect(outside.map((e) => e.field)).toEqual(inside ? [] : ['rules[1].cidr']);
  });

  it('says so when the network has no routes yet', () => {
    const [outside] = rulesOutsideRoutes([{ cidr: '10.0.0.0/24', proto: 'tcp', ports: '1' }], []);
    expect(outside).toEqual({ field: 'rules[0].cidr', message: expect.stringContaining('no egress routes yet') });
  });
});

describe('parseRuleSpec (the CLI --rule)', () => {
  it.each([
    ['tcp:10.0.0.0/16:5432', { cidr: '10.0.0.0/16', proto: 'tcp', ports: '5432' }],
    ['udp:10.0.0.2/32:53', { cidr: '10.0.0.2/32', proto: 'udp', ports: '53' }],
    ['any:10.0.0.0/16', { cidr: '10.0.0.0/16', proto: 'any', ports: 'any' }],
    ['tcp:10.0.0.0/16:8000-8100', { cidr: '10.0.0.0/16', proto: 'tcp', ports: '8000-8100' }],
  ])('%s', (spec, expected) => {
    expect(parseRuleSpec(spec, '--rule')).toEqual(expected);
  });

  it.each([['tcp'], ['tcp:10.0.0.0/16:1:2'], ['http:10.0.0.0/16:80'], ['tcp:10.0.0.1/16:80'], ['any:10.0.0.0/16:22']])('refuses %s', (spec) => {
    expect(meshError(() => parseRuleSpec(spec, '--rule')).field).toMatch(/^--rule/);
  });
});
