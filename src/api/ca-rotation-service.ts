import { createCA, formatIpv4Prefix, type NebulaCertificate, parseCertificateBundle } from '../pki';
import { type CaRotationRecord, type HostRecord, StateConflictError } from '../store';
import { awaitsBundle, bundleTagOf, NO_ROTATION, nextRotationStep, startRotation } from './ca-rotation';
import type { ApiContext } from './context';
import type { NetworkView } from './network-view';
import { ApiProblem, conflict } from './problem';
import type { PreparableSigner } from './settings';

/**
 * The I/O around the pure rotation functions (ca-rotation.ts): starting a rotation, moving it on
 * (the server's sweep, and lazily on host requests), recording which hosts hold the bundle.
 */

/** Host listing page size when counting who holds the bundle. */
const COUNT_PAGE = 500;
/** A request evaluates due transitions at most this often per process (Lambda: per execution environment). */
const LAZY_ADVANCE_INTERVAL_MS = 10_000;

/** `POST /v1/network/ca-rotation`: a new CA self-signed by the next key, and the `distributing` phase. */
export async function startCaRotation(ctx: ApiContext, distributeSeconds: number): Promise<CaRotationRecord> {
  if (!ctx.nextSigner) {
    throw conflict(
      'no-next-ca-key',
      'this gateway has no next CA key: in AWS set "caNextKey": true in the gateway config and deploy; locally the server makes one (see docs/ca-rotation.md)',
    );
  }
  const network = await ctx.store.getNetwork();
  if (!network) throw new Error('the table holds no network record');
  const current = network.caRotation ?? NO_ROTATION;
  if (current.phase !== 'idle') throw conflict('rotation-in-progress', `a CA rotation is already under way (phase ${current.phase}, started ${current.startedAt})`);
  if ('prepare' in ctx.nextSigner && typeof ctx.nextSigner.prepare === 'function') await (ctx.nextSigner as PreparableSigner).prepare();
  const nextKey = Buffer.from(await ctx.nextSigner.publicKey());
  const now = ctx.clock();
  const bundle = parseCertificateBundle(network.caBundle);
  if (bundle.some((ca) => nextKey.equals(Buffer.from(ca.details.publicKey)))) {
    throw conflict(
      'next-ca-key-in-use',
      "the next CA key already has a CA in the network's bundle: roll the key slots (the current CA key becomes the next key's, and a fresh next key is made) before another rotation; see docs/ca-rotation.md",
    );
  }
  // The CA being replaced: the bundle's latest valid one (read, not matched to a key: the admin
  // function that starts rotations holds the next key only).
  const oldCa = bundle
    .filter((ca) => ca.details.notBefore.getTime() <= now.getTime() && ca.details.notAfter.getTime() > now.getTime())
    .sort((a, b) => b.details.notAfter.getTime() - a.details.notAfter.getTime())[0];
  if (!oldCa) throw new ApiProblem(503, 'no-valid-ca', 'No valid CA', "no CA in the network's bundle is valid now");
  const newCa = await successorOf(oldCa, ctx.nextSigner, now);
  const next = startRotation({ current, caBundle: network.caBundle, oldCa, newCa, distributeSeconds, now });
  try {
    await ctx.store.writeCaRotation(current, next);
  } catch (err) {
    if (err instanceof StateConflictError) throw conflict('rotation-in-progress', 'another CA rotation started meanwhile');
    throw err;
  }
  changed(ctx);
  ctx.logger?.info('CA rotation started', { oldCa: oldCa.fingerprint(), newCa: newCa.fingerprint(), distributeSeconds });
  return next.rotation;
}

/** The new CA: the old one's name, lifetime and constraints (IPs, subnets, groups), for the next key. */
async function successorOf(oldCa: NebulaCertificate, signer: NonNullable<ApiContext['nextSigner']>, now: Date): Promise<NebulaCertificate> {
  const d = oldCa.details;
  const lifetimeMs = d.notAfter.getTime() - d.notBefore.getTime();
  return createCA({
    signer,
    name: d.name,
    ips: d.ips.map(formatIpv4Prefix),
    subnets: d.subnets.map(formatIpv4Prefix),
    groups: [...d.groups],
    notBefore: now,
    notAfter: new Date(now.getTime() + lifetimeMs),
    now,
  });
}

/**
 * Moves the rotation on as far as it is due. With `countHosts` (the sweep), counts the active
 * hosts and those holding the current bundle, so a phase ends as soon as every host has it;
 * otherwise only the time bounds apply. Returns the phases entered, in order.
 */
export async function advanceCaRotation(ctx: ApiContext, options: { countHosts: boolean }): Promise<string[]> {
  const entered: string[] = [];
  for (let step = 0; step < 3; step++) {
    const network = await ctx.store.getNetwork();
    const rotation = network?.caRotation;
    if (!network || !rotation || rotation.phase === 'idle') break;
    const hosts = options.countHosts && awaitsBundle(rotation.phase) && rotation.bundleTag ? await countHolders(ctx, rotation.bundleTag) : undefined;
    const next = nextRotationStep(rotation, network.caBundle, { now: ctx.clock(), certificateLifetimeSeconds: ctx.settings.certificateLifetimeSeconds, hosts });
    if (!next) {
      if (hosts && (hosts.holding !== rotation.hostsHoldingBundle || hosts.total !== rotation.hostsTotal)) {
        await writeQuietly(ctx, rotation, { caBundle: network.caBundle, rotation: { ...rotation, hostsHoldingBundle: hosts.holding, hostsTotal: hosts.total } });
      }
      break;
    }
    if (!(await writeQuietly(ctx, rotation, next))) break;
    changed(ctx);
    entered.push(next.rotation.phase);
    ctx.logger?.info('CA rotation phase', { phase: next.rotation.phase, ...(hosts ? { hostsHoldingBundle: hosts.holding, hostsTotal: hosts.total } : {}) });
  }
  return entered;
}

/** A transition written, or lost to another process that moved the rotation first (false). */
async function writeQuietly(ctx: ApiContext, expected: CaRotationRecord, next: { caBundle: string; rotation: CaRotationRecord }): Promise<boolean> {
  try {
    await ctx.store.writeCaRotation(expected, next);
    return true;
  } catch (err) {
    if (err instanceof StateConflictError) return false;
    throw err;
  }
}

/** Active hosts, and how many of them fetched a config carrying the bundle `bundleTag` names. */
async function countHolders(ctx: ApiContext, bundleTag: string): Promise<{ total: number; holding: number }> {
  const holders = await ctx.store.listBundleHolders(bundleTag);
  let total = 0;
  let holding = 0;
  let cursor: string | undefined;
  do {
    const page = await ctx.store.listHosts({ limit: COUNT_PAGE, cursor });
    for (const host of page.hosts) {
      if (host.status !== 'active') continue;
      total++;
      if (holders.has(host.id)) holding++;
    }
    cursor = page.nextCursor;
  } while (cursor);
  return { total, holding };
}

/** This process changed the network: drop the cached view and wake every watcher. */
function changed(ctx: ApiContext): void {
  ctx.views.invalidate();
  ctx.feed.notifyNetwork();
}

const recorded = new WeakMap<ApiContext, { tag: string; hosts: Set<string> }>();
const lastLazyAdvance = new WeakMap<ApiContext, number>();

/**
 * A host was just sent (or confirmed to hold, 304) its config as of `view`: while a rotation
 * waits for hosts to hold its bundle, record that this one does (once per host and bundle per
 * process). Also evaluates due transitions lazily (the time bounds only, at most every
 * LAZY_ADVANCE_INTERVAL_MS), which is how a deployment without the server's sweep moves on.
 * Never fails the request: a failure is logged.
 */
export async function noteConfigDelivered(ctx: ApiContext, host: HostRecord, view: NetworkView): Promise<void> {
  const rotation = view.caRotation;
  if (!rotation || rotation.phase === 'idle') return;
  try {
    const tag = bundleTagOf(view.caBundle);
    if (awaitsBundle(rotation.phase) && tag === rotation.bundleTag) {
      // Only the current bundle's holders are remembered: the set starts afresh with each bundle.
      let seen = recorded.get(ctx);
      if (seen?.tag !== tag) recorded.set(ctx, (seen = { tag, hosts: new Set<string>() }));
      if (!seen.hosts.has(host.id)) {
        await ctx.store.recordBundleHolder(tag, host.id, ctx.clock());
        seen.hosts.add(host.id);
      }
    }
    const at = Date.now();
    if (at - (lastLazyAdvance.get(ctx) ?? 0) >= LAZY_ADVANCE_INTERVAL_MS) {
      lastLazyAdvance.set(ctx, at);
      await advanceCaRotation(ctx, { countHosts: false });
    }
  } catch (err) {
    ctx.logger?.error('CA rotation bookkeeping failed', { hostId: host.id, error: (err as Error).message });
  }
}

/**
 * Refuses to renew a host whose certificate was signed by a CA that has left the bundle: no
 * certificate it could be given would be trusted by a peer that still knows only its old CA, and
 * its own nebula no longer trusts anything it holds; it must enroll again.
 */
export function refuseRetiredIssuer(host: HostRecord, view: NetworkView): void {
  if (!host.certificate) return;
  const issuer = parseCertificateBundle(host.certificate)[0]?.details.issuer;
  if (issuer && !view.caCertificates.some((ca) => ca.fingerprint() === issuer)) {
    throw new ApiProblem(
      403,
      'ca-retired',
      'CA retired',
      `host ${host.id}'s certificate was signed by a CA that was rotated out of the network (${issuer.slice(0, 16)}…); re-enroll the host with a new enrollment token`,
    );
  }
}
