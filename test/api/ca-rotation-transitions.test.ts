import {
  awaitsBundle,
  bundleTagOf,
  caExpiryOf,
  caExpiryWarning,
  caRotationView,
  joinBundle,
  NO_ROTATION,
  nextRotationStep,
  OLD_CA_SIGNING_GRACE_MS,
  signingCaPem,
  startRotation,
} from '../../src/api/ca-rotation';
import { createCA, generateEd25519KeyPair, LocalSigner, type NebulaCertificate } from '../../src/pki';
import type { CaRotationRecord } from '../../src/store';

const T0 = new Date('2026-06-01T00:00:00Z');
const at = (seconds: number) => new Date(T0.getTime() + seconds * 1000);
const DAY = 86_400_000;

let oldCa: NebulaCertificate;
let newCa: NebulaCertificate;
let distributing: { rotation: CaRotationRecord; caBundle: string };

beforeAll(async () => {
  const ca = (notAfter: Date) => createCA({ signer: new LocalSigner(generateEd25519KeyPair().privateKey), name: 'ca', notBefore: new Date(T0.getTime() - DAY), notAfter, now: T0 });
  oldCa = await ca(new Date(T0.getTime() + 365 * DAY));
  newCa = await ca(new Date(T0.getTime() + 3650 * DAY));
  distributing = startRotation({ current: NO_ROTATION, caBundle: oldCa.toPem(), oldCa, newCa, distributeSeconds: 100, now: T0 });
});

describe('startRotation', () => {
  test('bundles the old and the new CA, signs with the old one, and numbers the rotation', () => {
    expect(distributing.caBundle).toBe(joinBundle([oldCa.toPem(), newCa.toPem()]));
    expect(distributing.rotation).toMatchObject({ phase: 'distributing', serial: 1, startedAt: T0.toISOString(), bundleSince: T0.toISOString(), bundleTag: bundleTagOf(distributing.caBundle) });
    expect(signingCaPem(distributing.rotation)).toBe(oldCa.toPem());
  });
});

describe('nextRotationStep', () => {
  const facts = (seconds: number, hosts?: { total: number; holding: number }) => ({ now: at(seconds), certificateLifetimeSeconds: 60, ...(hosts ? { hosts } : {}) });

  test.each([
    ['not every host holds the bundle, bound not reached', 50, { total: 3, holding: 2 }, undefined],
    ['uncounted (a lazy request), bound not reached', 99, undefined, undefined],
    ['every host holds the bundle', 1, { total: 3, holding: 3 }, 'signing'],
    ['no active host at all', 1, { total: 0, holding: 0 }, 'signing'],
    ['the bound passed with hosts missing', 100, { total: 3, holding: 1 }, 'signing'],
    ['the bound passed, uncounted', 100, undefined, 'signing'],
  ])('distributing: %s', (_why, seconds, hosts, expected) => {
    const next = nextRotationStep(distributing.rotation, distributing.caBundle, facts(seconds, hosts));
    expect(next?.rotation.phase).toBe(expected);
    expect(next?.caBundle).toBe(expected ? distributing.caBundle : undefined);
  });

  test('entering signing: the old CA retires when its last possible certificate expires, plus the grace', () => {
    const next = nextRotationStep(distributing.rotation, distributing.caBundle, facts(10, { total: 1, holding: 1 }))!;
    expect(next.rotation).toMatchObject({ phase: 'signing', signingSince: at(10).toISOString(), hostsHoldingBundle: 1, hostsTotal: 1 });
    expect(Date.parse(next.rotation.oldCaRetiresAt!)).toBe(at(10 + 60).getTime() + OLD_CA_SIGNING_GRACE_MS);
    expect(signingCaPem(next.rotation)).toBe(newCa.toPem());
  });

  test('an old CA expiring before the certificate lifetime bounds its retirement', () => {
    const long = { now: at(10), certificateLifetimeSeconds: 400 * 86_400 };
    expect(nextRotationStep(distributing.rotation, distributing.caBundle, long)).toBeUndefined();
    const bounded = nextRotationStep(distributing.rotation, distributing.caBundle, { ...long, now: at(100) })!;
    expect(Date.parse(bounded.rotation.oldCaRetiresAt!)).toBe(oldCa.details.notAfter.getTime() + OLD_CA_SIGNING_GRACE_MS);
  });

  test.each([
    ['before the old CA retires', -1, undefined],
    ['once it has retired', 0, 'retiring-old'],
  ])('signing: %s', (_why, offsetMs, expected) => {
    const signing = nextRotationStep(distributing.rotation, distributing.caBundle, facts(10, { total: 1, holding: 1 }))!;
    const when = new Date(Date.parse(signing.rotation.oldCaRetiresAt!) + offsetMs);
    const next = nextRotationStep(signing.rotation, signing.caBundle, { now: when, certificateLifetimeSeconds: 60, hosts: { total: 1, holding: 1 } });
    expect(next?.rotation.phase).toBe(expected);
  });

  test('entering retiring-old: the bundle is the new CA alone, with a new tag and no stale counts', () => {
    const signing = nextRotationStep(distributing.rotation, distributing.caBundle, facts(10, { total: 1, holding: 1 }))!;
    const when = new Date(signing.rotation.oldCaRetiresAt!);
    const next = nextRotationStep(signing.rotation, signing.caBundle, { now: when, certificateLifetimeSeconds: 60 })!;
    expect(next.caBundle).toBe(joinBundle([newCa.toPem()]));
    expect(next.rotation).toMatchObject({ phase: 'retiring-old', bundleSince: when.toISOString(), bundleTag: bundleTagOf(next.caBundle) });
    expect(next.rotation.hostsTotal).toBeUndefined();
  });

  test.each([
    ['hosts still on the two-CA bundle', 10, { total: 2, holding: 1 }, undefined],
    ['every host holds the new bundle', 10, { total: 2, holding: 2 }, 'idle'],
    ['the bound passed', 100, undefined, 'idle'],
  ])('retiring-old: %s', (_why, seconds, hosts, expected) => {
    const retiring: CaRotationRecord = { ...distributing.rotation, phase: 'retiring-old', bundleSince: T0.toISOString() };
    const bundle = joinBundle([newCa.toPem()]);
    const next = nextRotationStep(retiring, bundle, facts(seconds, hosts));
    expect(next?.rotation.phase).toBe(expected);
    expect(next?.rotation.completedAt).toBe(expected ? at(seconds).toISOString() : undefined);
  });

  test('idle never moves by itself', () => {
    expect(nextRotationStep(NO_ROTATION, oldCa.toPem(), facts(1e9, { total: 0, holding: 0 }))).toBeUndefined();
  });
});

describe('phases', () => {
  test.each([
    ['idle', false, undefined],
    ['distributing', true, 'old'],
    ['signing', false, 'new'],
    ['retiring-old', true, 'new'],
  ] as const)('%s: awaits the bundle %s, signs with the %s CA', (phase, awaits, signs) => {
    const rotation = { ...distributing.rotation, phase };
    expect(awaitsBundle(phase)).toBe(awaits);
    expect(signingCaPem(rotation)).toBe(signs === undefined ? undefined : signs === 'old' ? oldCa.toPem() : newCa.toPem());
  });

  test('the view shows both CAs while under way, and only the last completion when idle', () => {
    expect(caRotationView(undefined)).toEqual({ phase: 'idle' });
    expect(caRotationView(distributing.rotation)).toMatchObject({
      phase: 'distributing',
      oldCa: { fingerprint: oldCa.fingerprint(), notAfter: oldCa.details.notAfter.toISOString() },
      newCa: { fingerprint: newCa.fingerprint() },
    });
    expect(caRotationView({ ...distributing.rotation, phase: 'idle', completedAt: 'x' })).toEqual({
      phase: 'idle',
      lastCompletedAt: 'x',
      newCa: { fingerprint: newCa.fingerprint(), notAfter: newCa.details.notAfter.toISOString() },
    });
  });
});

describe('CA expiry warnings', () => {
  test.each([
    [31, 'ok'],
    [30, 'ok'],
    [29.9, '30d'],
    [7, '30d'],
    [6.9, '7d'],
    [0.1, '7d'],
    [0, 'expired'],
    [-3, 'expired'],
  ])('%s days left: %s', (days, warning) => {
    expect(caExpiryWarning(days)).toBe(warning);
  });

  test("the bundle's latest expiry counts (mid-rotation it holds the successor)", () => {
    const expiry = caExpiryOf([oldCa, newCa], T0);
    expect(expiry).toEqual({ notAfter: newCa.details.notAfter.toISOString(), daysLeft: 3650, warning: 'ok' });
    expect(caExpiryOf([oldCa], new Date(oldCa.details.notAfter.getTime() - 10 * DAY)).warning).toBe('30d');
  });
});
