/** A certificate is renewed once this share of its life has passed. */
export const RENEWAL_FRACTION = 2 / 3;

/** The moment a certificate valid from `notBefore` to `notAfter` should be renewed: two thirds into its life. */
export function renewalTime(notBefore: Date, notAfter: Date): Date {
  const life = notAfter.getTime() - notBefore.getTime();
  return new Date(notBefore.getTime() + Math.max(0, life) * RENEWAL_FRACTION);
}

/** Milliseconds from `now` until renewal is due; 0 when it already is. */
export function msUntilRenewal(notBefore: Date, notAfter: Date, now: Date): number {
  return Math.max(0, renewalTime(notBefore, notAfter).getTime() - now.getTime());
}

/**
 * nebula 1.6 keeps the certificate a tunnel was made with until the tunnel ends; a reload does not
 * re-handshake. With `pki.disconnect_invalid` peers tear such a tunnel down when that certificate
 * expires, and finding the host again can take up to a lighthouse interval. The agent hands the
 * tunnels over after the reload (tunnel-handover.ts); should that fail, restarting nebula a
 * little before the replaced certificate expires re-makes every tunnel with the current one:
 * this is when, `min(30 s, 10% of its life)` before its notAfter.
 */
export function tunnelRefreshTime(replacedNotBefore: Date, replacedNotAfter: Date): Date {
  const life = Math.max(0, replacedNotAfter.getTime() - replacedNotBefore.getTime());
  return new Date(replacedNotAfter.getTime() - Math.min(30_000, life / 10));
}

/**
 * A host key is replaced at the first renewal once it is this many days old. Not every renewal:
 * the replaced certificate stays on every node's blocklist until it expires (a third of a
 * certificate's life), so rotating at each renewal would keep about half of all hosts on every
 * config's blocklist; 30 days keeps it to about 1 in 90 hosts with 24 h certificates, and bounds
 * how long a stolen key file is worth anything to a month. 0 rotates at every renewal.
 */
export const DEFAULT_KEY_ROTATION_DAYS = 30;

/** Whether a key made at `keyMadeAt` is due for replacement at a renewal at `now`. */
export function keyRotationDue(keyMadeAt: Date, now: Date, rotationDays: number): boolean {
  return now.getTime() - keyMadeAt.getTime() >= rotationDays * 86_400_000;
}
