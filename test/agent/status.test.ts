import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { duration, formatStatus, lastHandshakes, peersFromHostmap, type AgentStatus } from '../../src/agent/status';
import { agentStatusCommand } from '../../src/cli/commands/agent';

const NOW = new Date('2026-12-02T12:00:00.000Z');

/** Entries as nebula 1.6.1's `list-hostmap -json` prints them (ControlHostInfo). */
const cert = (name: string, notAfter: string) => ({ details: { name, ips: ['10.97.0.9/16'], groups: ['environment'], notBefore: '2026-12-02T11:00:00Z', notAfter, isCa: false }, fingerprint: 'ab', signature: 'cd' });
const direct = { vpnIp: '10.97.0.2', localIndex: 1, remoteIndex: 2, remoteAddrs: [{ ip: '198.19.1.2', port: 4711 }], cachedPackets: 0, cert: cert('e1', '2026-12-02T13:00:00Z'), messageCounter: 9, currentRemote: { ip: '198.19.1.2', port: 4711 }, currentRelaysToMe: [], currentRelaysThroughMe: [] };
const relayed = { ...direct, vpnIp: '10.97.0.3', cert: cert('e2', '2026-12-02T12:30:00Z'), currentRemote: null, currentRelaysToMe: ['10.97.0.1'] };
const lighthouse = { ...direct, vpnIp: '10.97.0.1', cert: cert('lh', '2026-12-02T11:59:00Z'), currentRemote: { ip: '198.19.1.5', port: 4242 }, currentRelaysThroughMe: ['10.97.0.3'] };
const handshaking = { ...direct, vpnIp: '10.97.0.10', cert: null, currentRemote: null, currentRelaysToMe: null };

describe('peersFromHostmap', () => {
  test('direct, relayed, pending; sorted by overlay address (numerically); certificate life; handshake time', () => {
    const handshakes = new Map([['10.97.0.2', '2026-12-02T11:58:00.000Z']]);
    const peers = peersFromHostmap(JSON.stringify([handshaking, relayed, direct, lighthouse]), handshakes, NOW);
    expect(peers).toEqual([
      { overlayIp: '10.97.0.1', name: 'lh', path: 'direct', via: [], remote: '198.19.1.5:4242', certificateExpiresAt: '2026-12-02T11:59:00.000Z', certificateRemainingSeconds: -60, relaying: ['10.97.0.3'] },
      { overlayIp: '10.97.0.2', name: 'e1', path: 'direct', via: [], remote: '198.19.1.2:4711', lastHandshakeAt: '2026-12-02T11:58:00.000Z', certificateExpiresAt: '2026-12-02T13:00:00.000Z', certificateRemainingSeconds: 3600, relaying: [] },
      { overlayIp: '10.97.0.3', name: 'e2', path: 'relayed', via: ['10.97.0.1'], certificateExpiresAt: '2026-12-02T12:30:00.000Z', certificateRemainingSeconds: 1800, relaying: [] },
      { overlayIp: '10.97.0.10', path: 'pending', via: [], relaying: [] },
    ]);
  });

  test.each([
    ['an empty hostmap', 'null', []],
    ['no tunnels', '[]', []],
  ])('%s', (_, json, expected) => expect(peersFromHostmap(json, new Map(), NOW)).toEqual(expected));

  test.each([
    ['not JSON', 'Could not find tunnel', /not JSON/],
    ['not a list', '{"vpnIp":"10.0.0.1"}', /not a JSON list/],
  ])('refuses %s', (_, json, message) => expect(() => peersFromHostmap(json, new Map(), NOW)).toThrow(message));
});

describe('lastHandshakes: the last "Handshake message received" per peer, JSON or text logs', () => {
  test('latest wins; other messages and malformed lines are ignored', () => {
    const log = [
      '{"level":"info","msg":"Handshake message received","time":"2026-12-02T11:00:00Z","vpnIp":"10.97.0.2","handshake":{"stage":2}}',
      '{"level":"info","msg":"Handshake message sent","time":"2026-12-02T11:30:00Z","vpnIp":"10.97.0.2"}',
      '{"level":"info","msg":"Handshake message received","time":"2026-12-02T11:40:00Z","vpnIp":"10.97.0.2"}',
      'time="2026-12-02T11:50:00Z" level=info msg="Handshake message received" certName=e2 vpnIp=10.97.0.3',
      '{"msg":"Handshake message received", broken',
      '{"level":"info","msg":"Handshake message received","time":"not a time","vpnIp":"10.97.0.4"}',
    ].join('\n');
    expect(lastHandshakes(log)).toEqual(new Map([['10.97.0.2', '2026-12-02T11:40:00.000Z'], ['10.97.0.3', '2026-12-02T11:50:00.000Z']]));
  });
});

describe('duration', () => {
  test.each([
    [0, '0s'], [59, '59s'], [61, '1m1s'], [3600, '1h'], [3661, '1h1m'], [90061, '1d1h'], [-1, 'expired'],
  ])('%i s → %s', (seconds, text) => expect(duration(seconds)).toBe(text));
});

describe('formatStatus', () => {
  const base: AgentStatus = {
    dir: '/etc/nebula', hostId: 'h-1', overlayIp: '10.97.0.4', nebula: { running: true, pid: 42 },
    certificate: { expiresAt: '2026-12-02T13:00:00.000Z', remainingSeconds: 3600, source: 'nebula' },
    config: { writtenAt: '2026-12-02T11:00:00.000Z', sha256: 'f'.repeat(64) }, peers: [],
  };
  test('one line per peer: path (and relay), remote, last handshake, certificate left', () => {
    const text = formatStatus({ ...base, peers: peersFromHostmap(JSON.stringify([relayed, direct]), new Map([['10.97.0.2', '2026-12-02T11:58:00.000Z']]), NOW) }, NOW);
    expect(text).toContain('nebula      running, pid 42\n');
    expect(text).toContain('certificate expires 2026-12-02T13:00:00.000Z (1h left)\n');
    expect(text).toMatch(/^10\.97\.0\.2 +e1 +direct +198\.19\.1\.2:4711 +2026-12-02T11:58:00\.000Z \(2m ago\) +1h$/m);
    expect(text).toMatch(/^10\.97\.0\.3 +e2 +relayed via 10\.97\.0\.1 +- +- +30m$/m);
  });
  test('a relay says whom it relays for', () => {
    const text = formatStatus({ ...base, peers: peersFromHostmap(JSON.stringify([lighthouse]), new Map(), NOW) }, NOW);
    expect(text).toMatch(/^10\.97\.0\.1 +lh +direct, relays for 10\.97\.0\.3 +198\.19\.1\.5:4242 +- +expired$/m);
  });
  test('no peers when nebula does not answer, and says why', () => {
    const text = formatStatus({ ...base, nebula: { running: false }, certificate: { ...base.certificate, source: 'config' }, peersUnavailable: 'nebula is not running' }, NOW);
    expect(text).toContain('nebula      not running\n');
    expect(text).toContain('(1h left, from config.yml)');
    expect(text).toMatch(/peers unknown: nebula is not running\n$/);
  });
});

describe('gateway agent status: bad input names the flag', () => {
  const io = { stdout: { write: () => true }, stderr: { write: () => true }, env: {} };
  test.each([
    [['--dir', '/nonexistent/agent-dir'], /flag --dir: \/nonexistent\/agent-dir does not exist/],
    [['--dir', ''], /flag --dir must name a directory/],
    [['--dir'], /flag --dir needs a value/],
    [['--colour'], /unknown flag --colour/],
  ])('%j', async (argv, message) => {
    await expect(agentStatusCommand.run(argv, io)).rejects.toThrow(message);
  });

  test('a directory no agent enrolled in', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'status-empty-'));
    try {
      await expect(agentStatusCommand.run(['--dir', dir], io)).rejects.toThrow(/holds no enrolled host/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
