import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import { addressGroup, ConnectionLimits } from '../../src/proxy/connection-limits';

/**
 * One client's share of working connections is counted per IPv4 address and per IPv6 /64: an IPv6
 * host usually holds a whole /64 and can rotate its source address within it at will.
 */
describe('addressGroup', () => {
  it.each([
    ['192.0.2.7', '192.0.2.7'],
    ['2001:db8:1:2:3:4:5:6', '2001:db8:1:2::/64'],
    ['2001:db8:1:2::9', '2001:db8:1:2::/64'],
    ['2001:DB8:0001:0002:ffff::1', '2001:db8:1:2::/64'],
    ['2001:db8::1', '2001:db8:0:0::/64'],
    ['2001:db8::', '2001:db8:0:0::/64'],
    ['::1', '0:0:0:0::/64'],
    ['::', '0:0:0:0::/64'],
    ['fe80::1%eth0', 'fe80:0:0:0::/64'],
    ['64:ff9b::192.0.2.1', '64:ff9b:0:0::/64'],
    ['2001:db8:1:2:3:4:192.0.2.1', '2001:db8:1:2::/64'],
    ['1:2:3::4:5:6:7', '1:2:3:0::/64'],
    ['1::2:3:4:5:6:7', '1:0:2:3::/64'],
  ])('%s counts against %s', (ip, group) => {
    expect(addressGroup(ip)).toBe(group);
  });
});

describe('ConnectionLimits per address group', () => {
  let port = 40_000;
  /** A stand-in for an accepted socket: only its peer address, close and destroy are used. */
  function socketFrom(address: string): Socket {
    const socket = new EventEmitter() as EventEmitter & { remoteAddress: string; remotePort: number; destroy: () => void; destroyed: boolean };
    socket.remoteAddress = address;
    socket.remotePort = port++;
    socket.destroyed = false;
    socket.destroy = () => {
      socket.destroyed = true;
      socket.emit('close');
    };
    return socket as unknown as Socket;
  }

  function working(limits: ConnectionLimits, address: string): boolean {
    const socket = socketFrom(address);
    limits.accept(socket);
    return limits.leaseOf(socket)!.begin();
  }

  it('makes addresses of one IPv6 /64 share one limit, and leaves other /64s and IPv4 alone', () => {
    const limits = new ConnectionLimits({ maxWorkingPerIp: 2, maxSockets: 100, firstRequestTimeoutMs: 10_000 });
    expect(working(limits, '2001:db8:1:2::a')).toBe(true);
    expect(working(limits, '2001:db8:1:2::b')).toBe(true);
    expect(working(limits, '2001:db8:1:2:ffff:ffff:ffff:ffff')).toBe(false);
    expect(working(limits, '2001:db8:1:3::a')).toBe(true);
    expect(working(limits, '192.0.2.1')).toBe(true);
    expect(working(limits, '192.0.2.1')).toBe(true);
    expect(working(limits, '192.0.2.1')).toBe(false);
    expect(working(limits, '::ffff:192.0.2.2')).toBe(true);
    expect(limits.working).toBe(6);
  });

  it('gives the /64 its place back when one of its connections ends', () => {
    const limits = new ConnectionLimits({ maxWorkingPerIp: 1, maxSockets: 100, firstRequestTimeoutMs: 10_000 });
    const first = socketFrom('2001:db8::1');
    limits.accept(first);
    expect(limits.leaseOf(first)!.begin()).toBe(true);
    expect(working(limits, '2001:db8::2')).toBe(false);
    limits.leaseOf(first)!.end();
    expect(working(limits, '2001:db8::2')).toBe(true);
  });
});
