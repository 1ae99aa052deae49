import { type ChildProcess, execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { freePort } from '../../src/server';
import { waitUntil } from '../support/wait';
import { GatewayMesh, type MeshNode } from './harness/gateway-mesh';
import { type Namespace, nsSpawn, Underlay } from './harness/netns';
import { ping, waitFor } from './harness/overlay';
import { describeMesh } from './harness/prerequisites';

/**
 * Host key rotation (issue 13, part 3) on a real mesh: a lighthouse, a proxy and an environment,
 * each run by `gateway agent`. Pings every 200 ms both ways between the environment and the proxy
 * while the environment's agent rotates its key (SIGUSR2: renew now with a new key). The agent
 * reloads nebula on the new key and certificate, then the API blocklists the old certificate; the
 * peers tear down the tunnels made with it and handshake again with the new one. Nothing is lost,
 * and the old key and certificate (kept aside by the test, as a thief would) are refused.
 */
describeMesh()('host key rotation under continuous pings', () => {
  let underlay: Underlay;
  let work: string;
  let mesh: GatewayMesh;
  let lh: MeshNode, proxy: MeshNode, env: MeshNode;
  const children: ChildProcess[] = [];

  beforeAll(async () => {
    underlay = Underlay.create();
    work = mkdtempSync(join(tmpdir(), 'e2e-keyrot-'));
    mesh = new GatewayMesh(underlay, work, {
      port: await freePort(),
      dataDir: join(work, 'gateway'),
      dynamodbEndpoint: process.env.AWS_ENDPOINT_URL_DYNAMODB,
      tableName: `e2e-keyrot-${process.pid}`,
      overlayCidr: '10.96.0.0/16',
      certificateLifetimeSeconds: 3600,
      sweepIntervalMs: 5000,
    });
    await mesh.startGateway();
  }, 60_000);

  afterAll(async () => {
    for (const child of children) child.kill('SIGKILL');
    await mesh?.stop().catch(() => undefined);
    underlay?.destroy();
    if (process.env.KEEP_E2E_DIR) console.log(`e2e work dir kept: ${work}`);
    else rmSync(work, { recursive: true, force: true });
  }, 30_000);

  it('moves the environment to a new key without losing a ping; the old certificate ends up blocked', async () => {
    lh = await mesh.enroll('lh', 'lighthouse');
    [proxy, env] = await Promise.all([mesh.enroll('px', 'proxy'), mesh.enroll('env', 'environment')]);
    for (const node of mesh.nodes) node.startAgent();
    await Promise.all(mesh.nodes.map((n) => n.waitForEvent('nebula_started', 1, 60_000)));
    await waitFor('env → px over the overlay', () => ping(env.ns, proxy.ip));
    await waitFor('px → env over the overlay', () => ping(proxy.ns, env.ip));

    const before = certificate(env);
    const oldKey = readFileSync(join(env.dir, 'host.key'), 'utf8');
    copyFileSync(join(env.dir, 'host.crt'), join(work, 'stolen.crt'));
    writeFileSync(join(work, 'stolen.key'), oldKey, { mode: 0o600 });

    const fromEnv = startPing(env.ns, proxy.ip, join(work, 'ping-env-px.txt'));
    const fromProxy = startPing(proxy.ns, env.ip, join(work, 'ping-px-env.txt'));
    await waitUntil('pings answered both ways', () => [fromEnv.answered(), fromProxy.answered()], (n) => n.every((x) => x >= 10), { timeoutMs: 20_000, intervalMs: 100 });

    env.agent!.kill('SIGUSR2');
    const rotated = await env.waitForEvent('key_rotated', 1, 60_000);
    expect(rotated.retired).toEqual([before.fingerprint]);
    for (const peer of [proxy, lh]) {
      await waitUntil(`${peer.name} to blocklist env's old certificate`, () => blocklistOf(peer), (list) => list.includes(before.fingerprint), { timeoutMs: 20_000, intervalMs: 100 });
      // Its nebula dropped the tunnel made with the old certificate (pki.disconnect_invalid)...
      await waitUntil(
        `${peer.name}'s nebula to tear down the tunnel made with env's old certificate`,
        () => peer.nebulaLog().filter((e) => e.fingerprint === before.fingerprint).map((e) => e.msg),
        (msgs) => msgs.includes('Remote certificate is no longer valid, tearing down the tunnel'),
        { timeoutMs: 30_000, intervalMs: 200 },
      );
    }
    // The lighthouse dropped env's address with that tunnel: env's agent handshakes with it again at once.
    await env.waitForEvent('lighthouse_nudged', 1, 90_000);
    await waitUntil(
      "lh's nebula to hold a tunnel with env's new certificate",
      () => lh.nebulaLog().filter((e) => e.fingerprint !== undefined).map((e) => [e.msg, e.fingerprint]),
      (entries) => entries.some(([msg, fp]) => String(msg).startsWith('Handshake message') && fp !== before.fingerprint && fp === certificate(env).fingerprint),
      { timeoutMs: 30_000, intervalMs: 200 },
    );
    // ...and made a new one with the new certificate; a few more seconds of pings across it.
    const after = certificate(env);
    await waitUntil(
      "px's nebula to hold a tunnel with env's new certificate",
      () => proxy.nebulaLog().filter((e) => e.msg === 'Handshake message received' || e.msg === 'Handshake message sent').map((e) => JSON.stringify(e)),
      (lines) => lines.some((l) => l.includes(after.fingerprint)),
      { timeoutMs: 30_000, intervalMs: 200 },
    );
    const answeredNow = [fromEnv.answered(), fromProxy.answered()];
    await waitUntil('25 more answers both ways after the switch', () => [fromEnv.answered(), fromProxy.answered()], (n) => n[0] >= answeredNow[0] + 25 && n[1] >= answeredNow[1] + 25, { timeoutMs: 30_000, intervalMs: 100 });

    const summaries = await Promise.all([fromEnv.stop(), fromProxy.stop()]);
    for (const summary of summaries) {
      expect(summary.transmitted).toBeGreaterThan(50);
      // Every request up to the last answered one got its answer; after it, at most the one in flight when ping was stopped.
      expect({ lost: summary.lost, summary: summary.line }).toEqual({ lost: [], summary: summary.line });
      expect(summary.transmitted - summary.lastAnswered).toBeLessThanOrEqual(1);
    }

    // A new key, on the host only, in place of the old one; the agent never restarted nebula.
    expect(after.publicKey).not.toBe(before.publicKey);
    expect(after.fingerprint).not.toBe(before.fingerprint);
    const keyPath = join(env.dir, 'host.key');
    expect(readFileSync(keyPath, 'utf8')).not.toBe(oldKey);
    expect(statSync(keyPath).mode & 0o777).toBe(0o600);
    expect(existsSync(join(env.dir, 'host.key.next'))).toBe(false);
    expect((parse(readFileSync(join(env.dir, 'config.yml'), 'utf8'), { version: '1.1' }) as { pki: { key: string } }).pki.key).toBe(keyPath);
    expect(env.events('nebula_restarted')).toEqual([]);
    expect(env.events('nebula_started')).toHaveLength(1);
    expect(env.nebulaLog().some((e) => e.msg === 'Client cert refreshed from disk')).toBe(true);
    const agentLog = readFileSync(`${env.dir}.agent.log`, 'utf8');
    expect(agentLog).not.toContain(readFileSync(keyPath, 'utf8').split('\n')[1]);
    expect(agentLog).not.toContain(oldKey.split('\n')[1]);

    // The old key and certificate, used by another machine on the same overlay address: refused.
    const thief = underlay.addNamespace('thief');
    children.push(startThief(thief, env.dir));
    const since = Date.now();
    await waitUntil(
      "lh's nebula to refuse a handshake with env's old certificate",
      () => lh.nebulaLog().filter((e) => Date.parse(String(e.time)) >= since - 1000 && e.msg === 'Invalid certificate from host').map((e) => String(e.error)),
      (errors) => errors.some((e) => /block/i.test(e)),
      { timeoutMs: 30_000, intervalMs: 200 },
    );
    expect(ping(thief, proxy.ip, 2)).toBe(false);
    expect(ping(thief, lh.ip, 2)).toBe(false);
    expect(ping(env.ns, proxy.ip)).toBe(true);
    expect(ping(proxy.ns, env.ip)).toBe(true);
  }, 240_000);

  /** nebula with the stolen key and certificate, the environment's lighthouse settings and overlay address. */
  function startThief(ns: Namespace, envDir: string): ChildProcess {
    const envConfig = parse(readFileSync(join(envDir, 'config.yml'), 'utf8'), { version: '1.1' }) as Record<string, Record<string, unknown>>;
    const config = {
      pki: { ca: readFileSync(join(envDir, 'ca.crt'), 'utf8'), cert: join(work, 'stolen.crt'), key: join(work, 'stolen.key') },
      static_host_map: envConfig.static_host_map,
      lighthouse: envConfig.lighthouse,
      listen: { host: '0.0.0.0', port: 0 },
      tun: { dev: 'nebula1', mtu: 1300 },
      logging: { level: 'info', format: 'json' },
      firewall: { outbound: [{ port: 'any', proto: 'any', host: 'any' }], inbound: [{ port: 'any', proto: 'any', host: 'any' }] },
    };
    writeFileSync(join(work, 'thief.yml'), stringify(config));
    return nsSpawn(ns, 'nebula', ['-config', join(work, 'thief.yml')], { stdio: 'ignore' });
  }
});

interface Ping {
  answered(): number;
  /** `lost`: unanswered sequence numbers below the last answered one, each with the time it was due (ping -D). */
  stop(): Promise<{ transmitted: number; lastAnswered: number; lost: string[]; line: string }>;
}

/** `ping -i 0.2` from `ns` to `ip` until stopped (SIGINT: ping prints its summary). */
function startPing(ns: Namespace, ip: string, outputPath: string): Ping {
  const child = nsSpawn(ns, 'ping', ['-D', '-n', '-i', '0.2', '-W', '2', ip], { stdio: ['ignore', 'pipe', 'ignore'] });
  let output = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  // 'close', not 'exit': ping's summary may still be in the pipe at 'exit'.
  const exited = new Promise<void>((done) => child.once('close', () => done()));
  return {
    answered: () => (output.match(/ bytes from /g) ?? []).length,
    stop: async () => {
      child.kill('SIGINT');
      await exited;
      writeFileSync(outputPath, output);
      const match = /(\d+) packets transmitted, (\d+) received.*/.exec(output);
      if (!match) throw new Error(`no ping summary in: ${output.slice(-500)}`);
      const answered = new Map([...output.matchAll(/^\[(\d+\.\d+)\] .*icmp_seq=(\d+) /gm)].map((m) => [Number(m[2]), Number(m[1])]));
      const lastAnswered = Math.max(0, ...answered.keys());
      const lost: string[] = [];
      for (let seq = 1; seq < lastAnswered; seq++) {
        if (!answered.has(seq)) lost.push(`icmp_seq=${seq} (answers before it at ${answered.get(seq - 1)}, after it at ${answered.get(seq + 1)})`);
      }
      return { transmitted: Number(match[1]), lastAnswered, lost, line: match[0] };
    },
  };
}

function certificate(node: MeshNode): { fingerprint: string; publicKey: string } {
  const json = JSON.parse(execFileSync('nebula-cert', ['print', '-json', '-path', join(node.dir, 'host.crt')], { encoding: 'utf8' })) as { fingerprint: string; details: { publicKey: string } };
  return { fingerprint: json.fingerprint, publicKey: json.details.publicKey };
}

function blocklistOf(node: MeshNode): string[] {
  const config = parse(readFileSync(join(node.dir, 'config.yml'), 'utf8'), { version: '1.1' }) as { pki?: { blocklist?: string[] } } | null;
  return config?.pki?.blocklist ?? [];
}
