import { Ipv4Cidr, parseIpv4 } from '../../src/mesh';
import { meshError } from './mesh-error';

/** Every host address of a network, by index, checked against the properties allocation relies on. */
function checkAllIndexes(cidr: Ipv4Cidr): Set<string> {
  const seen = new Set<string>();
  const notInverted: number[] = [];
  for (let i = 0; i < cidr.usableCount; i++) {
    const ip = cidr.addressAt(i);
    if (cidr.indexOf(ip) !== i) notInverted.push(i);
    seen.add(ip);
  }
  expect(notInverted).toEqual([]);
  return seen;
}

describe('Ipv4Cidr.parse', () => {
  it('parses a network and exposes its parts', () => {
    const cidr = Ipv4Cidr.parse('10.42.0.0/16');
    expect(cidr.prefix).toBe(16);
    expect(cidr.network).toBe('10.42.0.0');
    expect(cidr.broadcast).toBe('10.42.255.255');
    expect(cidr.netmask).toBe('255.255.0.0');
    expect(cidr.usableCount).toBe(65534);
    expect(cidr.toString()).toBe('10.42.0.0/16');
    expect(JSON.stringify({ cidr })).toBe('{"cidr":"10.42.0.0/16"}');
  });

  it.each([
    ['10.42.0.1/16', /host bits set; did you mean 10\.42\.0\.0\/16\?/],
    ['10.42.0.5/30', /host bits set; did you mean 10\.42\.0\.4\/30\?/],
    ['10.42.0.0/31', /too small: \/31 leaves no host addresses/],
    ['10.42.0.0/32', /too small: \/32/],
    ['10.0.0.0/7', /too wide: \/7/],
    ['0.0.0.0/0', /too wide: \/0/],
    ['10.42.0.0', /has no prefix length/],
    ['10.42.0.0/', /invalid prefix length ''/],
    ['10.42.0.0/016', /invalid prefix length '016'/],
    ['10.42.0.0/33', /invalid prefix length '33'/],
    ['10.42.0.0/1a', /invalid prefix length '1a'/],
    ['10.42.0.0/16/1', /invalid prefix length '16\/1'/],
    ['10.042.0.0/16', /leading zero/],
    ['10.42.0.256/24', /greater than 255/],
    ['127.0.0.0/16', /overlaps loopback/],
    ['0.0.0.0/8', /overlaps 'this network'/],
    ['224.0.0.0/8', /overlaps multicast/],
    ['169.254.0.0/16', /overlaps link-local space/],
    ['169.0.0.0/8', /overlaps link-local space/],
    ['240.0.0.0/8', /overlaps multicast or reserved/],
  ])('rejects %j', (text, message) => {
    const error = meshError(() => Ipv4Cidr.parse(text, 'cidr'));
    expect(error.field).toBe('cidr');
    expect(error.message).toMatch(message);
  });

  it('rejects non-strings and names the given field', () => {
    const error = meshError(() => Ipv4Cidr.parse(42, 'network.cidr'));
    expect(error.field).toBe('network.cidr');
    expect(error.message).toBe('network.cidr: must be a string such as 10.42.0.0/16');
  });

  it('accepts networks next to the excluded ranges', () => {
    expect(Ipv4Cidr.parse('169.253.0.0/16').toString()).toBe('169.253.0.0/16');
    expect(Ipv4Cidr.parse('223.255.255.0/24').toString()).toBe('223.255.255.0/24');
    expect(Ipv4Cidr.parse('1.0.0.0/8').toString()).toBe('1.0.0.0/8');
  });

  it('accepts the prefix limits /8 and /30', () => {
    expect(Ipv4Cidr.parse('10.0.0.0/8').usableCount).toBe(2 ** 24 - 2);
    expect(Ipv4Cidr.parse('192.168.7.252/30').usableCount).toBe(2);
  });
});

describe('Ipv4Cidr address arithmetic', () => {
  it('a /30 has exactly two hosts, between network and broadcast', () => {
    const cidr = Ipv4Cidr.parse('192.168.7.252/30');
    expect([...checkAllIndexes(cidr)]).toEqual(['192.168.7.253', '192.168.7.254']);
    expect(cidr.indexOf('192.168.7.252')).toBeUndefined();
    expect(cidr.indexOf('192.168.7.255')).toBeUndefined();
  });

  it('a /28 maps every index to a distinct host address, never network or broadcast', () => {
    const cidr = Ipv4Cidr.parse('10.1.2.16/28');
    const all = checkAllIndexes(cidr);
    expect(all.size).toBe(14);
    expect(all.has('10.1.2.16')).toBe(false);
    expect(all.has('10.1.2.31')).toBe(false);
    expect(cidr.addressAt(0)).toBe('10.1.2.17');
    expect(cidr.addressAt(13)).toBe('10.1.2.30');
  });

  it('a /16 covers all 65534 hosts once, crossing octet boundaries', () => {
    const cidr = Ipv4Cidr.parse('10.42.0.0/16');
    const all = checkAllIndexes(cidr);
    expect(all.size).toBe(65534);
    expect(all.has('10.42.0.0')).toBe(false);
    expect(all.has('10.42.255.255')).toBe(false);
    expect(cidr.addressAt(254)).toBe('10.42.0.255');
    expect(cidr.addressAt(255)).toBe('10.42.1.0');
  });

  it('a /8 maps its ends and samples correctly without enumerating', () => {
    const cidr = Ipv4Cidr.parse('10.0.0.0/8');
    expect(cidr.addressAt(0)).toBe('10.0.0.1');
    expect(cidr.addressAt(cidr.usableCount - 1)).toBe('10.255.255.254');
    for (const ip of ['10.0.0.1', '10.0.1.0', '10.128.0.0', '10.255.255.254', '10.17.99.3']) {
      expect(cidr.addressAt(cidr.indexOf(ip)!)).toBe(ip);
    }
    expect(cidr.indexOf('10.0.0.0')).toBeUndefined();
    expect(cidr.indexOf('10.255.255.255')).toBeUndefined();
  });

  it('handles the top of the address space without sign errors', () => {
    const cidr = Ipv4Cidr.parse('223.255.255.0/24');
    expect(cidr.broadcast).toBe('223.255.255.255');
    expect(cidr.addressAt(253)).toBe('223.255.255.254');
    expect(cidr.indexOf('223.255.255.254')).toBe(253);
    expect(cidr.contains('223.255.255.255')).toBe(true);
    expect(cidr.contains('224.0.0.0')).toBe(false);
    expect(parseIpv4(cidr.addressAt(0))).toBeGreaterThan(0);
  });

  it('rejects indexes outside 0..usableCount-1', () => {
    const cidr = Ipv4Cidr.parse('10.1.2.16/28');
    for (const index of [-1, 14, 1.5, Number.NaN, 2 ** 53]) {
      const error = meshError(() => cidr.addressAt(index));
      expect(error.field).toBe('index');
      expect(error.message).toContain('outside 0..13');
    }
  });

  it('indexOf is undefined outside the network and throws on non-addresses', () => {
    const cidr = Ipv4Cidr.parse('10.42.0.0/16');
    expect(cidr.indexOf('10.43.0.1')).toBeUndefined();
    expect(cidr.indexOf('10.41.255.254')).toBeUndefined();
    expect(meshError(() => cidr.indexOf('10.42.0.01', 'ip')).message).toMatch(/leading zero/);
  });

  it('contains covers the whole block, network and broadcast included', () => {
    const cidr = Ipv4Cidr.parse('10.42.0.0/16');
    expect(cidr.contains('10.42.0.0')).toBe(true);
    expect(cidr.contains('10.42.255.255')).toBe(true);
    expect(cidr.contains('10.42.17.3')).toBe(true);
    expect(cidr.contains('10.43.0.0')).toBe(false);
    expect(cidr.contains('10.41.255.255')).toBe(false);
  });

  it('overlaps is symmetric and exact at the edges', () => {
    const wide = Ipv4Cidr.parse('10.0.0.0/8');
    const mid = Ipv4Cidr.parse('10.42.0.0/16');
    const next = Ipv4Cidr.parse('10.43.0.0/16');
    const other = Ipv4Cidr.parse('192.168.0.0/16');
    const cases: Array<[Ipv4Cidr, Ipv4Cidr, boolean]> = [
      [wide, mid, true],
      [mid, next, false],
      [mid, mid, true],
      [wide, other, false],
      [Ipv4Cidr.parse('10.42.255.252/30'), mid, true],
      [Ipv4Cidr.parse('10.43.0.0/30'), mid, false],
    ];
    for (const [a, b, expected] of cases) {
      expect(a.overlaps(b)).toBe(expected);
      expect(b.overlaps(a)).toBe(expected);
    }
  });

  it('hostPrefix gives the certificate form of a host address', () => {
    const cidr = Ipv4Cidr.parse('10.42.0.0/16');
    expect(cidr.hostPrefix('10.42.0.5')).toBe('10.42.0.5/16');
    expect(meshError(() => cidr.hostPrefix('10.42.0.0', 'ip')).message).toMatch(/not a host address of 10\.42\.0\.0\/16/);
    expect(meshError(() => cidr.hostPrefix('10.43.0.1', 'ip')).field).toBe('ip');
  });
});
