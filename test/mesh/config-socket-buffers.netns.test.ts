/**
 * A real nebula 1.6.1, run from a rendered config in its own network namespace, gives its UDP
 * socket the rendered 10 MiB buffers: `nebula -test` does not open the socket, so only a running
 * nebula shows that the keys are read and that the kernel grants them past net.core.rmem_max.
 * Needs root, `ip` (iproute2, which brings `ss`), nebula and nebula-cert.
 */
import { type ChildProcess, spawnSync } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { renderNebulaConfig } from '../../src/mesh';
import { type Namespace, nsSpawn, Underlay } from '../e2e/harness/netns';
import { describeNeeding } from '../support/prerequisites';
import { waitUntil } from '../support/wait';
import { NebulaCertFixture } from './nebula-tools';

/** `rb` and `tb` (receive and send buffer bytes) of each listening UDP socket in `ns`, from `ss -m`. */
function udpBuffers(ns: Namespace): Array<{ rb: number; tb: number }> {
  const out = spawnSync('ip', ['netns', 'exec', ns.name, 'ss', '-H', '-u', '-l', '-n', '-m'], { encoding: 'utf8' }).stdout ?? '';
  return [...out.matchAll(/skmem:\(([^)]*)\)/g)].map(([, mem]) => ({
    rb: Number(/(?:^|,)rb(\d+)/.exec(mem)?.[1]),
    tb: Number(/(?:^|,)tb(\d+)/.exec(mem)?.[1]),
  }));
}

describeNeeding(['root', 'ip', 'nebula', 'nebula-cert'])('nebula applies the rendered UDP socket buffers', () => {
  let underlay: Underlay;
  let ns: Namespace;
  let pki: NebulaCertFixture;
  let nebula: ChildProcess | undefined;
  let output = '';

  beforeAll(async () => {
    underlay = Underlay.create();
    ns = underlay.addNamespace('buf');
    pki = await NebulaCertFixture.create();
  });

  afterAll(async () => {
    if (nebula && nebula.exitCode === null) nebula.kill('SIGKILL');
    underlay?.destroy();
    await pki?.cleanup();
  });

  test('an environment: 10 MiB read and write buffers (20 MiB as the kernel doubles them), above the 208 KiB default', async () => {
    const host = await pki.sign('env-1', '10.42.1.7/16', ['environment']);
    const config = renderNebulaConfig({
      role: 'environment',
      ca: pki.ca,
      certificate: host.cert,
      keyPath: host.keyPath,
      lighthouses: [{ ip: '10.42.0.1', endpoints: ['198.18.255.1:4242'] }],
      blocklist: [],
      policy: { environmentsReachEachOther: false },
    });
    const path = join(pki.dir, 'environment.yml');
    await writeFile(path, config);
    nebula = nsSpawn(ns, 'nebula', ['-config', path], { stdio: ['ignore', 'pipe', 'pipe'] });
    nebula.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    nebula.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    // nebula logs each buffer once it has set it on the bound socket (it reads the size back).
    await waitUntil('nebula to set its UDP socket buffers', () => {
      if (nebula?.exitCode !== null) throw new Error(`nebula exited with ${nebula?.exitCode}: ${output}`);
      return output;
    }, (o) => o.includes('listen.write_buffer was set'), { timeoutMs: 20_000, intervalMs: 100 });
    expect(output).toContain('"msg":"listen.read_buffer was set","size":20971520');
    expect(output).toContain('"msg":"listen.write_buffer was set","size":20971520');
    expect(udpBuffers(ns)).toEqual([{ rb: 2 * 10485760, tb: 2 * 10485760 }]);
  });
});
