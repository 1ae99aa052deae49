import { formatIpv4, parseEndpoint, parseIpv4 } from '../../src/mesh';
import { meshError } from './mesh-error';

describe('parseIpv4', () => {
  it('parses dotted quads to unsigned 32-bit numbers and back', () => {
    for (const [text, value] of [
      ['0.0.0.0', 0],
      ['10.42.1.5', 0x0a2a0105],
      ['255.255.255.255', 0xffffffff],
      ['192.168.0.1', 0xc0a80001],
    ] as const) {
      expect(parseIpv4(text)).toBe(value);
      expect(formatIpv4(value)).toBe(text);
    }
  });

  it.each([
    ['10.042.0.1', /octet '042' has a leading zero/],
    ['00.1.2.3', /leading zero/],
    ['10.42.0.256', /octet 256 is greater than 255/],
    ['10.42.0', /expected four dot-separated numbers/],
    ['10.42.0.1.2', /expected four dot-separated numbers/],
    ['10.42..1', /octet '' is not a decimal number/],
    [' 10.42.0.1', /is not a decimal number/],
    ['10.42.0.1\n', /is not a decimal number/],
    ['10.42.0.-1', /is not a decimal number/],
    ['10.42.0.0x1', /is not a decimal number/],
    ['10.42.0.1e1', /is not a decimal number/],
    ['', /expected four/],
  ])('rejects %j', (text, message) => {
    const error = meshError(() => parseIpv4(text, 'ip'));
    expect(error.field).toBe('ip');
    expect(error.message).toMatch(message);
  });

  it('rejects non-strings, naming the field it was given', () => {
    expect(meshError(() => parseIpv4(167772161, 'hosts[3].ip')).field).toBe('hosts[3].ip');
    expect(meshError(() => parseIpv4(undefined)).message).toMatch(/^ip: must be a string/);
  });

  it('does not echo control characters back', () => {
    expect(meshError(() => parseIpv4('10.\u0000.0.1')).message).not.toMatch(/\u0000/);
  });
});

describe('parseEndpoint', () => {
  it('accepts IPv4 and DNS names with a port, normalising the name', () => {
    expect(parseEndpoint('198.18.0.1:4242')).toEqual({ host: '198.18.0.1', port: 4242 });
    expect(parseEndpoint('LH1.Example.com.:1')).toEqual({ host: 'lh1.example.com', port: 1 });
    expect(parseEndpoint('localhost:65535')).toEqual({ host: 'localhost', port: 65535 });
    expect(parseEndpoint('127.0.0.1:4242')).toEqual({ host: '127.0.0.1', port: 4242 });
    expect(parseEndpoint('223.255.255.254:4242')).toEqual({ host: '223.255.255.254', port: 4242 });
    expect(parseEndpoint('a-b.c--d.example:4242')).toEqual({ host: 'a-b.c--d.example', port: 4242 });
  });

  it.each([
    ['198.18.0.1', /is not 'host:port'/],
    [':4242', /is not 'host:port'/],
    ['198.18.0.1:0', /invalid port '0'/],
    ['198.18.0.1:65536', /invalid port '65536'/],
    ['198.18.0.1:04242', /invalid port '04242'/],
    ['198.18.0.1:', /invalid port ''/],
    ['198.18.0.1:42a', /invalid port/],
    ['198.18.0.300:4242', /octet 300 is greater than 255/],
    ['198.18.0:4242', /expected four dot-separated numbers/],
    ['0.0.0.0:4242', /not a unicast address/],
    ['255.255.255.255:4242', /not a unicast address/],
    ['239.1.2.3:4242', /not a unicast address/],
    ['-lh.example.com:4242', /neither an IPv4 address nor a valid DNS name/],
    ['lh_1.example.com:4242', /neither an IPv4 address nor a valid DNS name/],
    ['lh..example.com:4242', /neither an IPv4 address nor a valid DNS name/],
    ['lh.example.123:4242', /neither an IPv4 address nor a valid DNS name/],
    [`${'a'.repeat(64)}.example.com:4242`, /neither an IPv4 address nor a valid DNS name/],
    ['[::1]:4242', /neither an IPv4 address nor a valid DNS name/],
    ['lh example.com:4242', /neither an IPv4 address nor a valid DNS name/],
  ])('rejects %j', (text, message) => {
    const error = meshError(() => parseEndpoint(text, 'endpoints[0]'));
    expect(error.field).toBe('endpoints[0]');
    expect(error.message).toMatch(message);
  });
});
