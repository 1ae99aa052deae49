/**
 * CA rotation end to end on a real mesh in network namespaces (a lighthouse, a proxy, an
 * environment, each run by `gateway agent` with nebula 1.6.1), certificates shortened to 60 s and
 * `distributeSeconds` 10: the time from `POST /v1/network/ca-rotation` to the last host holding a
 * certificate of the new CA, and to the rotation's end (the old CA gone from every config), with
 * pings every 200 ms between the hosts (proxy → lighthouse, environment → lighthouse, proxy ↔
 * environment) counting what is lost. Baseline in the same run: one plain renewal round (every
 * host renewed once), the pace the rotation moves at.
 *
 * Run as root: npx tsx bench/rotation.bench.ts (or npm run bench rotation, or npm run bench mesh).
 * Starts its own DynamoDB Local.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { NebulaCertificate, parseCertificateBundle } from '../src/pki';
import { freePort } from '../src/server';
import { ContinuousPing } from '../test/e2e/harness/continuous-ping';
import { GatewayMesh, type MeshNode } from '../test/e2e/harness/gateway-mesh';
import { Underlay } from '../test/e2e/harness/netns';
import { ping, waitFor } from '../test/e2e/harness/overlay';
import { MESH_PREREQUISITES } from '../test/e2e/harness/prerequisites';
import { missingPrerequisites } from '../test/support/prerequisites';
import { waitUntil } from '../test/support/wait';
import { printTable } from './table';

const CERT_LIFETIME_S = 60;
const DISTRIBUTE_S = 10;
const STAGGER_MS = 6000;
const TARGET_LOST = 0;

const issuerOf = (node: MeshNode) => NebulaCertificate.fromPem(readFileSync(join(node.dir, 'host.crt'), 'utf8')).details.issuer;
const fingerprintOf = (node: MeshNode) => NebulaCertificate.fromPem(readFileSync(join(node.dir, 'host.crt'), 'utf8')).fingerprint();
const trustedCas = (node: MeshNode) =>
  parseCertificateBundle((parse(readFileSync(join(node.dir, 'config.yml'), 'utf8')) as { pki: { ca: string } }).pki.ca).map((c) => c.fingerprint());

async function main(): Promise<void> {
  const missing = missingPrerequisites(MESH_PREREQUISITES);
  if (missing.length > 0) {
    console.error(`rotation bench needs ${missing.join(', ')}`);
    process.exitCode = 1;
    return;
  }
  const underlay = Underlay.create();
  const work = mkdtempSync(join(tmpdir(), 'rotation-bench-'));
  const mesh = new GatewayMesh(underlay, work, {
    port: await freePort(),
    dataDir: join(work, 'gateway'),
    overlayCidr: '10.95.0.0/16',
    certificateLifetimeSeconds: CERT_LIFETIME_S,
    sweepIntervalMs: 1000,
  });
  const pings: ContinuousPing[] = [];
  try {
    await mesh.startGateway();
    const lh = await mesh.enroll('lh', 'lighthouse');
    const [proxy, env] = await Promise.all([mesh.enroll('proxy', 'proxy'), mesh.enroll('env', 'environment')]);
    const hosts = [lh, proxy, env];
    for (const node of hosts) {
      node.startAgent();
      await node.waitForEvent('nebula_started', 1, 60_000);
      await new Promise((r) => setTimeout(r, STAGGER_MS));
    }
    const pairs: [MeshNode, MeshNode][] = [
      [proxy, lh],
      [env, lh],
      [proxy, env],
      [env, proxy],
    ];
    for (const [from, to] of pairs) await waitFor(`${from.name} → ${to.name}`, () => ping(from.ns, to.ip), 30_000);
    for (const [from, to] of pairs) pings.push(new ContinuousPing(from.ns, to.ip, 0.2));

    // Baseline: one plain renewal round, from now until every host holds a newer certificate.
    const before = new Map(hosts.map((h) => [h, fingerprintOf(h)]));
    const roundStart = performance.now();
    await waitUntil('a renewal round', () => hosts.filter((h) => fingerprintOf(h) === before.get(h)).map((h) => h.name), (left) => left.length === 0, {
      timeoutMs: 4 * CERT_LIFETIME_S * 1000,
      intervalMs: 100,
    });
    const renewalRoundMs = performance.now() - roundStart;

    const started = performance.now();
    const answer = await mesh.admin<{ caRotation: { newCa: { fingerprint: string } } }>('POST', '/v1/network/ca-rotation', { distributeSeconds: DISTRIBUTE_S });
    const newCa = answer.caRotation.newCa.fingerprint;
    const limit = { timeoutMs: 10 * CERT_LIFETIME_S * 1000, intervalMs: 100 };
    await waitUntil('every host trusting both CAs', () => hosts.map(trustedCas), (all) => all.every((cas) => cas.length === 2), limit);
    const bundleMs = performance.now() - started;
    await waitUntil('every host on the new CA', () => hosts.map(issuerOf), (issuers) => issuers.every((i) => i === newCa), limit);
    const lastOnNewMs = performance.now() - started;
    await waitUntil('the old CA gone from every config', () => hosts.map(trustedCas), (all) => all.every((cas) => cas.length === 1 && cas[0] === newCa), limit);
    const oldGoneMs = performance.now() - started;
    await waitUntil('the rotation idle', () => mesh.admin<{ caRotation: { phase: string } }>('GET', '/v1/network'), (n) => n.caRotation.phase === 'idle', limit);
    const idleMs = performance.now() - started;

    const tallies = [];
    for (const p of pings.splice(0)) tallies.push(await p.stop());
    const sent = tallies.reduce((n, t) => n + t.transmitted, 0);
    const lost = tallies.reduce((n, t) => n + t.lost.length, 0);
    const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
    const ratio = (ms: number) => (ms / renewalRoundMs).toFixed(2);
    console.log(`certificates ${CERT_LIFETIME_S} s (+60 s backdating), distributeSeconds ${DISTRIBUTE_S}, sweep every 1 s; agents on default settings (same-key renewals, tunnels handed over without a restart)`);
    printTable(
      ['measure', 'value', 'ratio to renewal round', 'target'],
      [
        ['baseline: one plain renewal round (every host renewed once)', s(renewalRoundMs), '1.00', '—'],
        ['start → every host holds both CAs', s(bundleMs), ratio(bundleMs), '—'],
        ['start → last host on the new CA', s(lastOnNewMs), ratio(lastOnNewMs), '—'],
        ['start → old CA gone from every config', s(oldGoneMs), ratio(oldGoneMs), '—'],
        ['start → rotation idle', s(idleMs), ratio(idleMs), '—'],
        ['pings lost during the rotation (all pairs)', `${lost} of ${sent}`, '—', `${TARGET_LOST}`],
      ],
    );
    console.log(`per pair: ${tallies.map((t) => `${t.from.replace(/^ng\d+[a-z]-/, '')} → ${t.to}: ${t.lost.length} lost of ${t.transmitted}`).join('; ')}`);
  } finally {
    for (const p of pings) p.kill();
    await mesh.stop().catch(() => undefined);
    underlay.destroy();
    rmSync(work, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
