/**
 * A real nebula 1.6.1 lighthouse, run from a rendered config in its own network namespace, binds
 * the UDP port its endpoints name (the port every host is told), not nebula's usual 4242.
 * Needs root, `ip`, nebula and nebula-cert.
 */
import { type ChildProcess, spawnSync } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { renderNebulaConfig } from '../../src/mesh';
import { type Namespace, nsSpawn, Underlay } from '../e2e/harness/netns';
import { describeNeeding } from '../support/prerequisites';
import { waitUntil } from '../support/wait';
import { NebulaCertFixture } from './nebula-tools';

/** The UDP ports something listens on inside `ns`. */
function udpPorts(ns: Namespace): number[] {
  const out = spawnSync('ip', ['netns', 'exec', ns.name, 'ss', '-H', '-u', '-l', '-n'], { encoding: 'utf8' }).stdout ?? '';
  return out
    .split('\n')
    .map((line) => line.trim().split(/\s+/)[3])
    .filter((local): local is string => Boolean(local))
    .map((local) => Number(local.slice(local.lastIndexOf(':') + 1)));
}

describeNeeding(['root', 'ip', 'nebula', 'nebula-cert'])('a lighthouse listens where its endpoints point', () => {
  let underlay: Underlay;
  let ns: Namespace;
  let pki: NebulaCertFixture;
  let nebula: ChildProcess | undefined;
  let output = '';

  beforeAll(async () => {
    underlay = Underlay.create();
    ns = underlay.addNamespace('lh');
    pki = await NebulaCertFixture.create();
  });

  afterAll(async () => {
    if (nebula && nebula.exitCode === null) nebula.kill('SIGKILL');
    underlay?.destroy();
    await pki?.cleanup();
  });

  test('endpoints on port 4243: nebula binds UDP 4243, not 4242', async () => {
    const host = await pki.sign('lh-1', '10.42.0.1/16', ['lighthouse']);
    const config = renderNebulaConfig({
      role: 'lighthouse',
      ca: pki.ca,
      certificate: host.cert,
      keyPath: host.keyPath,
      lighthouses: [],
      blocklist: [],
      policy: { environmentsReachEachOther: false },
      endpoints: [`${ns.ip}:4243`, 'lh-1.example.com:4243'],
    });
    const path = join(pki.dir, 'lighthouse.yml');
    await writeFile(path, config);
    nebula = nsSpawn(ns, 'nebula', ['-config', path], { stdio: ['ignore', 'pipe', 'pipe'] });
    nebula.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    nebula.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const ports = await waitUntil('nebula to bind a UDP port', () => {
      if (nebula?.exitCode !== null) throw new Error(`nebula exited with ${nebula?.exitCode}: ${output}`);
      return udpPorts(ns);
    }, (p) => p.length > 0, { timeoutMs: 20_000, intervalMs: 100 });
    expect(ports).toEqual([4243]);
  });
});
