/**
 * The mesh, timed for real in network namespaces:
 * - enroll-to-first-packet: `gateway agent enroll` starts on a fresh host (token in hand) until the
 *   first overlay ping to a lighthouse answers, through `gateway agent run` starting nebula;
 * - revocation propagation: `DELETE /v1/hosts/{id}` until the last peer's nebula has reloaded a
 *   blocklist holding the revoked certificate (from then on it refuses the host's handshakes);
 * against a baseline measured in the same run: nebula started by hand with nebula-cert certificates
 * until its first overlay ping answers. Medians over several runs.
 *
 * Run as root: npx tsx bench/mesh.bench.ts (or npm run bench mesh). Starts its own DynamoDB Local.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../src/server';
import { GatewayMesh, type MeshNode } from '../test/e2e/harness/gateway-mesh';
import { makeCa, makeRawNode, startRawNebula } from '../test/e2e/harness/nebula-cert-mesh';
import { type Namespace, Underlay } from '../test/e2e/harness/netns';
import { ping, waitFor } from '../test/e2e/harness/overlay';
import { MESH_PREREQUISITES } from '../test/e2e/harness/prerequisites';
import { missingPrerequisites } from '../test/support/prerequisites';

const BASELINE_RUNS = 5;
const AGENT_RUNS = 4;
const TARGET_FIRST_PACKET_MS = 3000;
const TARGET_REVOCATION_MS = 5000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

/** Milliseconds from `since` until a ping from `ns` to `ip` answers. */
async function firstPing(ns: Namespace, ip: string, since: number, timeoutMs = 60_000): Promise<number> {
  while (!ping(ns, ip, 1)) {
    if (performance.now() - since > timeoutMs) throw new Error(`no answer from ${ip} within ${timeoutMs} ms`);
    await sleep(20);
  }
  return performance.now() - since;
}

async function baseline(underlay: Underlay, work: string): Promise<number[]> {
  const dir = join(work, 'raw');
  spawnSync('mkdir', ['-p', dir]);
  makeCa(dir);
  const lhNs = underlay.addNamespace('rawlh');
  const hostNs = underlay.addNamespace('rawhost');
  const lh = makeRawNode(dir, lhNs, 'lh', '10.250.0.1');
  const host = makeRawNode(dir, hostNs, 'host', '10.250.0.2', { overlayIp: lh.overlayIp, underlay: lhNs.ip });
  const lighthouse = startRawNebula(lh);
  const samples: number[] = [];
  try {
    await sleep(500);
    for (let i = 0; i < BASELINE_RUNS; i++) {
      const started = performance.now();
      const nebula = startRawNebula(host);
      samples.push(await firstPing(hostNs, lh.overlayIp, started));
      const exited = new Promise((r) => nebula.once('exit', r));
      nebula.kill('SIGTERM');
      await exited;
    }
  } finally {
    lighthouse.kill('SIGKILL');
  }
  return samples;
}

async function agentRuns(underlay: Underlay, work: string): Promise<{ firstPacket: number[]; runOnly: number[]; revocation: number[] }> {
  const mesh = new GatewayMesh(underlay, work, { port: await freePort(), dataDir: join(work, 'gateway'), overlayCidr: '10.251.0.0/16' });
  const out = { firstPacket: [] as number[], runOnly: [] as number[], revocation: [] as number[] };
  try {
    await mesh.startGateway();
    const [lh, proxy] = await Promise.all([mesh.enroll('lh', 'lighthouse'), mesh.enroll('proxy', 'proxy')]);
    for (const node of [lh, proxy]) node.startAgent();
    await Promise.all([lh, proxy].map((n) => n.waitForEvent('nebula_started', 1, 60_000)));
    await waitFor('proxy → lighthouse', () => ping(proxy.ns, lh.ip));
    for (let i = 0; i < AGENT_RUNS; i++) {
      const pending = await mesh.createHost(`env${i}`, 'environment');
      const started = performance.now();
      const env: MeshNode = await mesh.enrollHost(pending);
      const runStarted = performance.now();
      env.startAgent();
      out.firstPacket.push(await firstPing(env.ns, lh.ip, started));
      out.runOnly.push(performance.now() - runStarted);

      await waitFor('proxy → env', () => ping(proxy.ns, env.ip));
      const peers = [lh, proxy];
      const reloads = peers.map((p) => p.events('nebula_reloaded').length);
      const revokedAt = Date.now();
      await mesh.admin('DELETE', `/v1/hosts/${env.hostId}`);
      await Promise.all(peers.map((p, k) => p.waitForEvent('nebula_reloaded', reloads[k] + 1, 30_000)));
      const applied = peers.map((p, k) => p.events('nebula_reloaded').slice(reloads[k]).find((e) => (e.changed as string[]).includes('pki.blocklist')));
      if (applied.some((e) => !e)) throw new Error('a peer reloaded without the new blocklist');
      out.revocation.push(Math.max(...applied.map((e) => Date.parse((e as { time: string }).time))) - revokedAt);
      await env.waitForAgentExit();
    }
  } finally {
    await mesh.stop();
  }
  return out;
}

async function main(): Promise<void> {
  const missing = missingPrerequisites(MESH_PREREQUISITES);
  if (missing.length > 0) {
    console.error(`mesh bench needs ${missing.join(', ')}`);
    process.exitCode = 1;
    return;
  }
  const underlay = Underlay.create();
  const work = mkdtempSync(join(tmpdir(), 'mesh-bench-'));
  try {
    const raw = await baseline(underlay, work);
    const agent = await agentRuns(underlay, work);
    const base = median(raw);
    const rows: Array<[string, number, string]> = [
      ['baseline: nebula-cert certs, nebula start → first ping', base, '—'],
      ['enroll-to-first-packet (agent enroll + run → first ping)', median(agent.firstPacket), `≤ ${TARGET_FIRST_PACKET_MS} ms`],
      ['  of which agent run → first ping', median(agent.runOnly), '—'],
      ['revocation: DELETE → last peer reloaded blocklist', median(agent.revocation), `≤ ${TARGET_REVOCATION_MS} ms`],
    ];
    const fmt = (ms: number) => `${ms.toFixed(0)} ms`;
    console.log(`runs: baseline ${BASELINE_RUNS}, agent ${AGENT_RUNS}; medians; ratio = value / baseline`);
    console.log(`| ${'measure'.padEnd(58)} | ${'median'.padStart(9)} | ${'target'.padStart(10)} | ${'ratio'.padStart(6)} | ${'met'.padStart(4)} |`);
    console.log(`|${'-'.repeat(60)}|${'-'.repeat(11)}|${'-'.repeat(12)}|${'-'.repeat(8)}|${'-'.repeat(6)}|`);
    for (const [name, value, target] of rows) {
      const limit = Number(target.replace(/[^0-9]/g, ''));
      const met = target === '—' ? '' : value <= limit ? 'yes' : 'no';
      console.log(`| ${name.padEnd(58)} | ${fmt(value).padStart(9)} | ${target.padStart(10)} | ${(value / base).toFixed(2).padStart(6)} | ${met.padStart(4)} |`);
    }
    console.log(`samples (ms): baseline ${raw.map((x) => x.toFixed(0)).join(', ')}; first packet ${agent.firstPacket.map((x) => x.toFixed(0)).join(', ')}; run only ${agent.runOnly.map((x) => x.toFixed(0)).join(', ')}; revocation ${agent.revocation.join(', ')}`);
  } finally {
    underlay.destroy();
    rmSync(work, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
