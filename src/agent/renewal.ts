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
