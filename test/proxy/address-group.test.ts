import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import { addressGroup, ConnectionLimits, NewConnectionRate } from '../../src/proxy/connection-limits';

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

describe('ConnectionLimits per address group', () => {
  /** No rate limit to speak of, for the tests of the other limits. */
  const anyRate = { newConnections: { perSecond: 1e9, burst: 1e9 }, report: () => {} };

  function working(limits: ConnectionLimits, address: string): boolean {
    const socket = socketFrom(address);
    limits.accept(socket);
    return limits.leaseOf(socket)!.begin();
  }

  it('makes addresses of one IPv6 /64 share one limit, and leaves other /64s and IPv4 alone', () => {
    const limits = new ConnectionLimits({ maxWorkingPerIp: 2, maxSockets: 100, firstRequestTimeoutMs: 10_000, ...anyRate });
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
    const limits = new ConnectionLimits({ maxWorkingPerIp: 1, maxSockets: 100, firstRequestTimeoutMs: 10_000, ...anyRate });
    const first = socketFrom('2001:db8::1');
    limits.accept(first);
    expect(limits.leaseOf(first)!.begin()).toBe(true);
    expect(working(limits, '2001:db8::2')).toBe(false);
    limits.leaseOf(first)!.end();
    expect(working(limits, '2001:db8::2')).toBe(true);
  });
});

/**
 * New connections per address group: a token bucket checked before any TLS work, so that one
 * address can neither spend the proxy's CPU on handshakes nor churn the global cap. The clock is
 * the `now` passed in.
 */
describe('NewConnectionRate', () => {
  const takes = (rate: NewConnectionRate, group: string, now: number, n: number) => Array.from({ length: n }, () => rate.take(group, now));

  it('admits a burst at once, then refills at the sustained rate, never beyond the burst', () => {
    const rate = new NewConnectionRate(2, 5, () => {});
    expect(takes(rate, '192.0.2.1', 0, 6)).toEqual([true, true, true, true, true, false]);
    expect(rate.take('192.0.2.1', 250)).toBe(false);
    expect(takes(rate, '192.0.2.1', 500, 2)).toEqual([true, false]);
    // 2/s for 100 s would be 200: the bucket holds 5.
    expect(takes(rate, '192.0.2.1', 100_500, 6)).toEqual([true, true, true, true, true, false]);
    expect(rate.refused).toBe(4);
  });

  it('keeps address groups apart: an IPv6 /64 shares one bucket, another address has its own', () => {
    const limits = new ConnectionLimits({ maxWorkingPerIp: 100, maxSockets: 100, firstRequestTimeoutMs: 10_000, newConnections: { perSecond: 1e-6, burst: 2 }, report: () => {} });
    const accepted = (address: string) => {
      const socket = socketFrom(address);
      limits.accept(socket);
      return !(socket as unknown as { destroyed: boolean }).destroyed;
    };
    expect(['2001:db8:1:2::a', '2001:db8:1:2::b', '2001:db8:1:2::c'].map(accepted)).toEqual([true, true, false]);
    expect(['2001:db8:1:3::a', '192.0.2.1', '192.0.2.1', '::ffff:192.0.2.1', '192.0.2.2'].map(accepted)).toEqual([true, true, true, false, true]);
    expect(limits.refusedTooFast).toBe(2);
    expect(limits.sockets).toBe(6);
  });

  it('destroys a connection opened too fast without closing an idle one at the global cap', () => {
    const limits = new ConnectionLimits({ maxWorkingPerIp: 100, maxSockets: 2, firstRequestTimeoutMs: 10_000, newConnections: { perSecond: 1e-6, burst: 2 }, report: () => {} });
    const idle = [socketFrom('192.0.2.1'), socketFrom('192.0.2.2')];
    for (const s of idle) limits.accept(s);
    const first = [socketFrom('192.0.2.3'), socketFrom('192.0.2.3'), socketFrom('192.0.2.3')];
    for (const s of first) limits.accept(s);
    const destroyed = (s: Socket) => (s as unknown as { destroyed: boolean }).destroyed;
    // Two admitted in turn (each closing the longest idle), the third refused: it closes no one.
    expect([...idle, ...first].map(destroyed)).toEqual([true, true, false, false, true]);
    expect(limits.sockets).toBe(2);
    expect(limits.refusedTooFast).toBe(1);
  });

  it('drops buckets that are full again, and holds only the groups that connected lately', () => {
    const rate = new NewConnectionRate(10, 20, () => {});
    for (let i = 0; i < 1000; i++) rate.take(`198.51.${i >> 8}.${i & 255}`, 0);
    rate.take('192.0.2.1', 1500);
    expect(rate.groups).toBe(1001);
    // One token each: refilled in 100 ms; the late one is not yet full.
    rate.sweep(1550);
    expect(rate.groups).toBe(1);
    rate.sweep(1600);
    expect(rate.groups).toBe(0);
  });

  it("reports a group's refusals at most once a minute, with their count, and then forgets it", () => {
    const lines: string[] = [];
    const rate = new NewConnectionRate(1, 2, (line) => lines.push(line));
    takes(rate, '192.0.2.7', 0, 5);
    rate.sweep(1000);
    expect(lines).toEqual(['refused 3 new connections from 192.0.2.7: more than 1/s after a burst of 2']);
    // A flood in bursts, each after the bucket has filled again: one line for the minute.
    for (const t of [10_000, 20_000, 30_000]) {
      takes(rate, '192.0.2.7', t, 4);
      rate.sweep(t + 1000);
    }
    expect(lines).toHaveLength(1);
    rate.sweep(61_000);
    expect(lines[1]).toBe('refused 6 new connections from 192.0.2.7: more than 1/s after a burst of 2');
    rate.sweep(122_000);
    expect(lines).toHaveLength(2);
    expect(rate.groups).toBe(0);
    expect(rate.refused).toBe(9);
  });
});
