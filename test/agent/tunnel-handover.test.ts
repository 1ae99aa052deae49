import { HandoverError, type HandoverStep, type Tunnel, handoverPlan, parseTunnels, peersClosedSinceReload, stepCommands, stepOutcome, stepSettled, stillPending } from '../../src/agent/tunnel-handover';

/** Shaped like nebula 1.6.1's `list-hostmap -json` (ControlHostInfo), trimmed to what matters plus some noise. */
const HOSTMAP = JSON.stringify([
  { vpnIp: '10.94.0.1', localIndex: 11, remoteIndex: 91, remoteAddrs: [{ ip: '198.18.7.2', port: 4242 }], cachedPackets: 0, cert: { fingerprint: 'aa' }, messageCounter: 4, currentRemote: { ip: '198.18.7.2', port: 4242 }, currentRelaysToMe: [], currentRelaysThroughMe: [] },
  { vpnIp: '10.94.0.3', localIndex: 33, remoteIndex: 93, remoteAddrs: [], cachedPackets: 0, cert: null, messageCounter: 0, currentRemote: null, currentRelaysToMe: ['10.94.0.1'], currentRelaysThroughMe: [] },
  { vpnIp: '10.94.0.2', localIndex: 22, remoteIndex: 92, remoteAddrs: [], cachedPackets: 0, cert: null, messageCounter: 0, currentRemote: { ip: '198.18.7.3', port: 4242 }, currentRelaysToMe: [], currentRelaysThroughMe: [] },
]);

const lh: Tunnel = { vpnIp: '10.94.0.1', localIndex: 11 };
const direct: Tunnel = { vpnIp: '10.94.0.2', localIndex: 22 };
const relayed: Tunnel = { vpnIp: '10.94.0.3', localIndex: 33 };

describe('reading the hostmap', () => {
  it.each([
    ['a hostmap', HOSTMAP, [lh, relayed, direct]],
    ['no tunnels (nebula prints null)', 'null\n', []],
    ['no tunnels (empty list)', '[]', []],
    ['entries without an IP or index are skipped', JSON.stringify([{ vpnIp: '10.94.0.9' }, { localIndex: 4 }]), []],
  ])('%s', (_case, json, expected) => {
    expect(parseTunnels(json)).toEqual(expected);
  });

  it.each([
    ['not JSON', 'Could not find tunnel', /not JSON: Could not find tunnel/],
    ['not a list', '{"vpnIp":"10.94.0.1"}', /not a JSON list/],
  ])('refuses output that is %s', (_case, output, message) => {
    expect(() => parseTunnels(output)).toThrow(HandoverError);
    expect(() => parseTunnels(output)).toThrow(message);
  });
});

describe('the handover plan', () => {
  it.each<[string, Tunnel[], string[], HandoverStep[]]>([
    ['nothing to hand over', [], ['10.94.0.1'], []],
    [
      'lighthouses first, then the others by overlay IP (numerically)',
      [direct, { vpnIp: '10.94.0.10', localIndex: 5 }, relayed, lh],
      ['10.94.0.1'],
      [
        { vpnIp: '10.94.0.1', localIndex: 11, lighthouse: true },
        { vpnIp: '10.94.0.2', localIndex: 22, lighthouse: false },
        { vpnIp: '10.94.0.3', localIndex: 33, lighthouse: false },
        { vpnIp: '10.94.0.10', localIndex: 5, lighthouse: false },
      ],
    ],
    ['two lighthouses lead, in IP order', [direct, { vpnIp: '10.94.0.7', localIndex: 7 }, lh], ['10.94.0.7', '10.94.0.1'], [{ vpnIp: '10.94.0.1', localIndex: 11, lighthouse: true }, { vpnIp: '10.94.0.7', localIndex: 7, lighthouse: true }, { vpnIp: '10.94.0.2', localIndex: 22, lighthouse: false }]],
  ])('%s', (_case, tunnels, lighthouses, expected) => {
    expect(handoverPlan(tunnels, lighthouses)).toEqual(expected);
  });

  it.each<[string, HandoverStep, string[]]>([
    ['close (telling the peer), then handshake at once (not -address: nebula 1.6.1 crashes on it)', handoverPlan([direct], [])[0], ['close-tunnel 10.94.0.2', 'create-tunnel 10.94.0.2']],
    ['a lighthouse alike', handoverPlan([lh], ['10.94.0.1'])[0], ['close-tunnel 10.94.0.1', 'create-tunnel 10.94.0.1']],
  ])('console commands: %s', (_case, step, commands) => {
    expect(stepCommands(step)).toEqual(commands);
  });
});

describe('what became of a tunnel', () => {
  const step = handoverPlan([direct], [])[0];
  it.each<[string, Tunnel[], Tunnel[], string, boolean]>([
    ['a new session', [{ ...direct, localIndex: 77 }], [], 'renewed', true],
    ['the old session still there', [direct], [], 'unchanged', false],
    ['gone, nothing under way (the next packet re-makes it)', [lh], [], 'closed', true],
    ['gone, the new handshake under way', [], [{ vpnIp: direct.vpnIp, localIndex: 78 }], 'handshaking', false],
  ])('%s', (_case, hostmap, pending, outcome, settled) => {
    expect(stepOutcome(step, hostmap, pending)).toBe(outcome);
    expect(stepSettled(stepOutcome(step, hostmap, pending))).toBe(settled);
  });

  it.each<[string, Tunnel[], Tunnel[], Tunnel[]]>([
    ['none pending before', [], [{ vpnIp: '10.94.0.2', localIndex: 5 }], []],
    ['a handshake begun before is still pending', [{ vpnIp: '10.94.0.2', localIndex: 5 }], [{ vpnIp: '10.94.0.2', localIndex: 5 }], [{ vpnIp: '10.94.0.2', localIndex: 5 }]],
    ['it finished; another began since (with the new certificate)', [{ vpnIp: '10.94.0.2', localIndex: 5 }], [{ vpnIp: '10.94.0.2', localIndex: 6 }], []],
  ])('handshakes begun before the reload: %s', (_case, before, now, expected) => {
    expect(stillPending(before, now)).toEqual(expected);
  });
});

describe('tunnels the peer already re-made after the reload', () => {
  const reload = (line: string) => line.includes('Client cert refreshed from disk') && line.includes('ff01');
  const json = (msg: string, fields: Record<string, unknown> = {}) => JSON.stringify({ level: 'info', msg, ...fields, time: '2026-12-02T15:27:19Z' });
  it.each<[string, string[], string[]]>([
    ['no reload line (yet): none', [json('Close tunnel received, tearing down.', { vpnIp: '10.94.0.2' })], []],
    ['a close before the reload does not count (that tunnel was made with the old certificate)', [json('Close tunnel received, tearing down.', { vpnIp: '10.94.0.2' }), json('Client cert refreshed from disk', { cert: { fingerprint: 'ff01' } })], []],
    [
      'closes after the last reload of this certificate, each peer once (JSON and text logs)',
      [
        json('Client cert refreshed from disk', { cert: { fingerprint: 'ff01' } }),
        json('Close tunnel received, tearing down.', { vpnIp: '10.94.0.3' }),
        'time="2026-12-02T15:27:19Z" level=info msg="Close tunnel received, tearing down." udpAddr="198.18.7.3:4242" vpnIp=10.94.0.2',
        json('Close tunnel received, tearing down.', { vpnIp: '10.94.0.3' }),
        json('Handshake message received', { vpnIp: '10.94.0.1' }),
      ],
      ['10.94.0.3', '10.94.0.2'],
    ],
    ['another certificate\'s reload line does not count', [json('Client cert refreshed from disk', { cert: { fingerprint: 'ee02' } }), json('Close tunnel received, tearing down.', { vpnIp: '10.94.0.2' })], []],
  ])('%s', (_case, lines, expected) => {
    expect(peersClosedSinceReload(lines, reload)).toEqual(expected);
  });
});
