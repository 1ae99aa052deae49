import { type NebulaCertificate, parseCertificateBundle } from '../pki';
import type { CaRotationPhase, CaRotationRecord } from '../store';
import { CA_EXPIRY_WARNING_DAYS } from './ca-expiry-contract';
import { contentPart } from './etag';

/**
 * CA rotation with overlap, as pure functions of the stored record and the facts at hand:
 *
 * - `idle` → `distributing` (start): the bundle is the old CAs plus the new one; certificates are
 *   still signed by the old CA, so every host learns to trust the new CA before meeting a peer
 *   whose certificate it signed.
 * - `distributing` → `signing`: once every active host holds the bundle (fetched its config after
 *   the bundle changed), or `distributeSeconds` after it changed (hosts that are offline must not
 *   hold the rotation up for ever). Hosts renewing from now get certificates of the new CA.
 * - `signing` → `retiring-old`: once no certificate the old CA signed can still be valid (the
 *   last one it could sign expires at `oldCaRetiresAt`); the bundle becomes the new CA alone.
 * - `retiring-old` → `idle`: once every active host holds that bundle, or `distributeSeconds` later.
 */

export { CA_EXPIRY_WARNING_DAYS };
export type CaExpiryWarning = 'ok' | '30d' | '7d' | 'expired';

/** How long a phase waits for hosts to hold its bundle before moving on regardless. @default 24 h */
export const DEFAULT_DISTRIBUTE_SECONDS = 24 * 3600;

/** The longest a phase may wait for hosts: a rotation must end well before any CA expires. */
export const MAX_DISTRIBUTE_SECONDS = 30 * 86_400;

/**
 * After entering `signing`, other API instances may still sign with the old CA until they read
 * the new version (within their version poll, 500 ms by default), and their clocks may differ a
 * little: the old CA retires this much after the last certificate it could have signed expires.
 */
export const OLD_CA_SIGNING_GRACE_MS = 10_000;

const DAY_MS = 86_400_000;

/** The bundle's content hash: hosts that fetched a config carrying it are recorded under it. */
export function bundleTagOf(caBundle: string): string {
  return contentPart(caBundle);
}

/** Blocks joined as the network record keeps them: one PEM after the other, each ending in a newline. */
export function joinBundle(pems: readonly string[]): string {
  return pems.map((p) => `${p.trim()}\n`).join('');
}

/** The record of a network that never rotated its CA. */
export const NO_ROTATION: CaRotationRecord = { phase: 'idle', serial: 0 };

/** A rotation from `current` to `newCa`: the record and bundle of `distributing`. */
export function startRotation(input: {
  readonly current: CaRotationRecord;
  readonly caBundle: string;
  readonly oldCa: NebulaCertificate;
  readonly newCa: NebulaCertificate;
  readonly distributeSeconds: number;
  readonly now: Date;
}): { rotation: CaRotationRecord; caBundle: string } {
  const caBundle = joinBundle([...parseCertificateBundle(input.caBundle).map((c) => c.toPem()), input.newCa.toPem()]);
  const at = input.now.toISOString();
  return {
    caBundle,
    rotation: {
      phase: 'distributing',
      serial: input.current.serial + 1,
      startedAt: at,
      distributeSeconds: input.distributeSeconds,
      oldCa: input.oldCa.toPem(),
      newCa: input.newCa.toPem(),
      bundleSince: at,
      bundleTag: bundleTagOf(caBundle),
    },
  };
}

/** What the transition function looks at besides the record. */
export interface RotationFacts {
  readonly now: Date;
  /** The longest host certificate lifetime any API instance issues. */
  readonly certificateLifetimeSeconds: number;
  /**
   * Active hosts and those among them holding the current bundle, when counted (the sweep counts;
   * a request evaluating transitions lazily does not, and then only the time bounds apply).
   */
  readonly hosts?: { readonly total: number; readonly holding: number };
}

/** The next state after `rotation` given `facts`, or undefined when it stays where it is. */
export function nextRotationStep(rotation: CaRotationRecord, caBundle: string, facts: RotationFacts): { rotation: CaRotationRecord; caBundle: string } | undefined {
  const now = facts.now.getTime();
  const at = facts.now.toISOString();
  const counted = facts.hosts ? { hostsHoldingBundle: facts.hosts.holding, hostsTotal: facts.hosts.total } : {};
  switch (rotation.phase) {
    case 'idle':
      return undefined;
    case 'distributing': {
      if (!bundleReached(rotation, facts)) return undefined;
      const oldCa = required(rotation.oldCa, 'oldCa');
      const lastOldCert = Math.min(now + facts.certificateLifetimeSeconds * 1000, certificateOf(oldCa).details.notAfter.getTime());
      return {
        caBundle,
        rotation: { ...rotation, ...counted, phase: 'signing', signingSince: at, oldCaRetiresAt: new Date(lastOldCert + OLD_CA_SIGNING_GRACE_MS).toISOString() },
      };
    }
    case 'signing': {
      if (now < Date.parse(required(rotation.oldCaRetiresAt, 'oldCaRetiresAt'))) return undefined;
      const next = joinBundle([required(rotation.newCa, 'newCa')]);
      const { hostsHoldingBundle, hostsTotal, ...rest } = rotation;
      return { caBundle: next, rotation: { ...rest, phase: 'retiring-old', bundleSince: at, bundleTag: bundleTagOf(next) } };
    }
    case 'retiring-old': {
      if (!bundleReached(rotation, facts)) return undefined;
      return { caBundle, rotation: { ...rotation, ...counted, phase: 'idle', completedAt: at } };
    }
  }
}

/** Whether every counted host holds the current bundle, or the phase has waited long enough. */
function bundleReached(rotation: CaRotationRecord, facts: RotationFacts): boolean {
  if (facts.hosts && facts.hosts.holding >= facts.hosts.total) return true;
  const since = Date.parse(required(rotation.bundleSince, 'bundleSince'));
  return facts.now.getTime() >= since + (rotation.distributeSeconds ?? DEFAULT_DISTRIBUTE_SECONDS) * 1000;
}

/** Whether the phase waits for hosts to fetch the bundle (worth recording who holds it). */
export function awaitsBundle(phase: CaRotationPhase): boolean {
  return phase === 'distributing' || phase === 'retiring-old';
}

/**
 * The CA certificates must be signed with in `rotation`'s phase: the old CA while the new one is
 * being distributed, the new one from `signing` on; undefined when idle (the bundle's CA whose
 * key the gateway holds).
 */
export function signingCaPem(rotation: CaRotationRecord | undefined): string | undefined {
  if (!rotation) return undefined;
  if (rotation.phase === 'distributing') return rotation.oldCa;
  if (rotation.phase === 'signing' || rotation.phase === 'retiring-old') return rotation.newCa;
  return undefined;
}

/** The CA's expiry as `GET /v1/network` reports it: the bundle's latest expiry, since mid-rotation it holds the successor. */
export function caExpiryOf(caCertificates: readonly NebulaCertificate[], now: Date): { notAfter: string; daysLeft: number; warning: CaExpiryWarning } {
  const last = Math.max(...caCertificates.map((c) => c.details.notAfter.getTime()));
  const days = (last - now.getTime()) / DAY_MS;
  return { notAfter: new Date(last).toISOString(), daysLeft: Math.floor(days), warning: caExpiryWarning(days) };
}

/** The warning level at `days` (fractional) before expiry. */
export function caExpiryWarning(days: number): CaExpiryWarning {
  if (days <= 0) return 'expired';
  if (days < CA_EXPIRY_WARNING_DAYS[1]) return '7d';
  if (days < CA_EXPIRY_WARNING_DAYS[0]) return '30d';
  return 'ok';
}

/** The rotation as `GET /v1/network` shows it (`caRotation`). */
export function caRotationView(rotation: CaRotationRecord | undefined): Record<string, unknown> {
  if (!rotation || rotation.phase === 'idle') {
    return { phase: 'idle', ...(rotation?.completedAt ? { lastCompletedAt: rotation.completedAt, newCa: caSummary(rotation.newCa) } : {}) };
  }
  return {
    phase: rotation.phase,
    startedAt: rotation.startedAt,
    distributeSeconds: rotation.distributeSeconds,
    newCa: caSummary(rotation.newCa),
    oldCa: caSummary(rotation.oldCa),
    bundleSince: rotation.bundleSince,
    ...(rotation.hostsTotal !== undefined ? { hostsHoldingBundle: rotation.hostsHoldingBundle, hostsTotal: rotation.hostsTotal } : {}),
    ...(rotation.signingSince ? { signingSince: rotation.signingSince } : {}),
    ...(rotation.oldCaRetiresAt ? { oldCaRetiresAt: rotation.oldCaRetiresAt } : {}),
  };
}

function caSummary(pem: string | undefined): { fingerprint: string; notAfter: string } | undefined {
  if (!pem) return undefined;
  const ca = certificateOf(pem);
  return { fingerprint: ca.fingerprint(), notAfter: ca.details.notAfter.toISOString() };
}

function certificateOf(pem: string): NebulaCertificate {
  return parseCertificateBundle(pem)[0];
}

/** A field the phase requires; its absence means the stored record is corrupt. */
function required(value: string | undefined, field: string): string {
  if (value === undefined) throw new Error(`the stored CA rotation has no ${field}`);
  return value;
}
