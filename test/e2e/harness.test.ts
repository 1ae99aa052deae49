import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeCa, makeRawNode, startRawNebula } from './harness/nebula-cert-mesh';
import { Underlay, nsExec } from './harness/netns';
import { ping, startEchoServer, tcpEcho, waitFor } from './harness/overlay';
import { describeMesh } from './harness/prerequisites';

/** The harness itself, proven with certificates made by nebula-cert and no gateway. */
describeMesh()('netns harness with a nebula-cert mesh', () => {
  let underlay: Underlay;
  let dir: string;
  beforeAll(() => {
    underlay = Underlay.create();
    dir = mkdtempSync(join(tmpdir(), 'e2e-harness-'));
  });
  afterAll(() => {
    underlay?.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  it('joins namespaces on a bridge, and runs a lighthouse and two hosts that ping and connect over the overlay', async () => {
    const [lhNs, aNs, bNs] = ['lh', 'a', 'b'].map((n) => underlay.addNamespace(n));
    expect(nsExec(aNs, 'ping', ['-c', '1', '-W', '2', underlay.bridgeIp])).toContain('1 received');
    makeCa(dir);
    const lh = makeRawNode(dir, lhNs, 'lh', '10.77.0.1');
    const a = makeRawNode(dir, aNs, 'a', '10.77.0.2', { overlayIp: lh.overlayIp, underlay: lhNs.ip });
    const b = makeRawNode(dir, bNs, 'b', '10.77.0.3', { overlayIp: lh.overlayIp, underlay: lhNs.ip });
    for (const node of [lh, a, b]) startRawNebula(node);
    await startEchoServer(bNs, 7000);
    await waitFor('a to reach b over the overlay', () => ping(aNs, b.overlayIp));
    expect(tcpEcho(aNs, b.overlayIp, 7000)).toBe(true);
    expect(ping(bNs, lh.overlayIp)).toBe(true);
    const handshakes = readFileSync(b.logPath, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l)).filter((e) => e.msg === 'Handshake message received' || e.msg === 'Handshake message sent');
    expect(handshakes.some((e) => e.certName === 'a')).toBe(true);
  });

  it('removes its namespaces and bridge on destroy', () => {
    underlay.destroy();
    expect(execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })).not.toContain(underlay.prefix);
    expect(execFileSync('ip', ['link', 'show'], { encoding: 'utf8' })).not.toContain(underlay.bridge);
  });
});
