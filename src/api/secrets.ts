import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/** Prefixes make a leaked secret recognisable (and greppable by secret scanners). */
export const ADMIN_TOKEN_PREFIX = 'gwa_';
export const ENROLLMENT_TOKEN_PREFIX = 'gwe_';
export const HOST_CREDENTIAL_PREFIX = 'gwh_';

/** A new opaque secret: prefix + 256 random bits, base64url. */
export function newSecret(prefix: string): string {
  return `${prefix}${randomBytes(32).toString('base64url')}`;
}

/** What the store keeps instead of a secret: lowercase hex SHA-256. */
export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex');
}

/** Compares a presented secret with a stored hash in constant time. */
export function secretMatches(secret: string, storedHash: string | undefined): boolean {
  if (storedHash === undefined || !/^[0-9a-f]{64}$/.test(storedHash)) return false;
  return timingSafeEqual(Buffer.from(hashSecret(secret), 'hex'), Buffer.from(storedHash, 'hex'));
}

const BASE32 = 'abcdefghijklmnopqrstuvwxyz234567';

/** `h-` + 16 lowercase base32 characters (80 random bits): safe in DNS labels and URLs. */
export function newHostId(): string {
  const bytes = randomBytes(10);
  let bits = 0;
  let value = 0;
  let out = '';
  for (const byte of bytes) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += BASE32[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  return `h-${out}`;
}

export const HOST_ID_PATTERN = /^h-[a-z2-7]{16}$/;
