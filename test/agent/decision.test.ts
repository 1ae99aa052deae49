import { decideNebulaAction, changedKeys } from '../../src/agent/reload-decision';
import { backoffDelay } from '../../src/agent/backoff';
import { msUntilRenewal, renewalTime, tunnelRefreshTime } from '../../src/agent/renewal';

const base = {
  pki: { ca: 'CA', cert: 'CERT1', key: '/d/host.key', blocklist: [] as string[], disconnect_invalid: true },
  tun: { dev: 'nebula1', mtu: 1300 },
  listen: { host: '0.0.0.0', port: 0 },
  lighthouse: { am_lighthouse: false, hosts: ['10.42.0.1'] },
  firewall: { inbound: [{ port: 'any', proto: 'icmp', group: 'lighthouse' }] },
};
const clone = () => structuredClone(base);
const applied = (config: unknown, certificateIp = '10.42.0.5/16') => ({ config, certificateIp });

describe('reload or restart, from a config diff', () => {
  it('does nothing when nothing changed', () => {
    expect(decideNebulaAction(applied(base), applied(clone()))).toEqual({ action: 'none', changed: [] });
  });

  it('reloads for a blocklist, a new certificate, the firewall or the lighthouse list', () => {
    const blocked = clone();
    blocked.pki.blocklist = ['ab12'];
    expect(decideNebulaAction(applied(base), applied(blocked))).toEqual({ action: 'reload', changed: ['pki.blocklist'] });
    const renewed = clone();
    renewed.pki.cert = 'CERT2';
    expect(decideNebulaAction(applied(base), applied(renewed)).action).toBe('reload');
    const fw = clone();
    fw.firewall.inbound.push({ port: '22', proto: 'tcp', group: 'proxy' });
    expect(decideNebulaAction(applied(base), applied(fw))).toEqual({ action: 'reload', changed: ['firewall.inbound'] });
    const lh = clone();
    lh.lighthouse.hosts.push('10.42.0.2');
    expect(decideNebulaAction(applied(base), applied(lh))).toEqual({ action: 'reload', changed: ['lighthouse.hosts'] });
  });

  it.each([
    ['tun.mtu', (c: typeof base) => (c.tun.mtu = 1400)],
    ['tun.dev', (c: typeof base) => (c.tun.dev = 'nebula2')],
    ['listen.port', (c: typeof base) => (c.listen.port = 4242)],
    ['lighthouse.am_lighthouse', (c: typeof base) => (c.lighthouse.am_lighthouse = true)],
    ['pki.disconnect_invalid', (c: typeof base) => (c.pki.disconnect_invalid = false)],
    ['cipher', (c: typeof base) => Object.assign(c, { cipher: 'chachapoly' })],
  ])('restarts when %s changes (nebula reads it at start only)', (key, change) => {
    const next = clone();
    change(next);
    expect(decideNebulaAction(applied(base), applied(next))).toEqual({ action: 'restart', changed: [key] });
  });

  it('restarts when the certificate IP changes, which a reload would refuse', () => {
    const next = clone();
    next.pki.cert = 'CERT2';
    expect(decideNebulaAction(applied(base), applied(next, '10.42.0.6/16'))).toEqual({ action: 'restart', changed: ['pki.cert', 'certificate ip'] });
  });

  it('restarts when a reloadable and a start-only change come together', () => {
    const next = clone();
    next.pki.blocklist = ['ab'];
    next.listen.port = 4243;
    expect(decideNebulaAction(applied(base), applied(next))).toEqual({ action: 'restart', changed: ['listen.port', 'pki.blocklist'] });
  });

  it('names added and removed keys and whole-value replacements', () => {
    expect(changedKeys({ a: 1 }, { a: 1, b: { c: 2 } })).toEqual(['b']);
    expect(changedKeys({ a: [1] }, { a: [1, 2] })).toEqual(['a']);
    expect(changedKeys(1, 2)).toEqual(['(root)']);
  });
});

describe('backoff with full jitter', () => {
  const policy = { baseMs: 500, capMs: 30_000 };
  it('grows the ceiling exponentially from the base up to the cap', () => {
    const ceilings = [0, 1, 2, 3, 6, 7, 20].map((attempt) => backoffDelay(attempt, policy, () => 0.999999));
    expect(ceilings).toEqual([499, 999, 1999, 3999, 29999, 29999, 29999]);
  });

  it('draws uniformly below the ceiling, down to zero', () => {
    expect(backoffDelay(3, policy, () => 0)).toBe(0);
    expect(backoffDelay(3, policy, () => 0.5)).toBe(2000);
  });

  it('survives absurd attempt counts', () => {
    expect(backoffDelay(10_000, policy, () => 0.5)).toBe(15_000);
  });
});

describe('renewal at two thirds of the certificate life', () => {
  const notBefore = new Date('2026-01-01T00:00:00Z');
  const notAfter = new Date('2026-01-01T03:00:00Z');
  it('is due two thirds into the validity', () => {
    expect(renewalTime(notBefore, notAfter).toISOString()).toBe('2026-01-01T02:00:00.000Z');
  });

  it('counts down from now, and is due at once when late', () => {
    expect(msUntilRenewal(notBefore, notAfter, new Date('2026-01-01T01:30:00Z'))).toBe(30 * 60_000);
    expect(msUntilRenewal(notBefore, notAfter, new Date('2026-01-01T02:30:00Z'))).toBe(0);
  });

  it('renews a 90-second certificate after 60 seconds', () => {
    const start = new Date('2026-01-01T00:00:00Z');
    expect(msUntilRenewal(start, new Date(start.getTime() + 90_000), start)).toBe(60_000);
  });
});

describe('tunnel refresh before a replaced certificate expires', () => {
  it('is 30 s before its notAfter for long-lived certificates', () => {
    const notBefore = new Date('2026-01-01T00:00:00Z');
    expect(tunnelRefreshTime(notBefore, new Date('2026-01-02T00:00:00Z')).toISOString()).toBe('2026-01-01T23:59:30.000Z');
  });

  it('is a tenth of the life before its notAfter for short-lived ones', () => {
    const notBefore = new Date('2026-01-01T00:00:00Z');
    expect(tunnelRefreshTime(notBefore, new Date('2026-01-01T00:02:30Z')).toISOString()).toBe('2026-01-01T00:02:15.000Z');
  });
});
