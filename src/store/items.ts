import { createHash } from 'node:crypto';
import { StoreError } from './errors';
import { hostIndexKey, iso, keys, ttlOf } from './keys';
import type { HostRecord, IssuedCertificate } from './records';
import type { Item } from './table-access';

/**
 * Lease states: `held` by a host, `quarantined` after a revocation until `availableAt`, `free`
 * again (in the pool). A lease can be claimed when absent, free, or quarantined no longer.
 */
export const CLAIMABLE_LEASE = 'attribute_not_exists(pk) OR #state = :free OR (#state = :quarantined AND availableAt <= :now)';

export function claimableLeaseValues(now: Date) {
  return { ':free': 'free', ':quarantined': 'quarantined', ':now': iso(now) };
}

export function leaseClaimable(lease: Item, now: Date): boolean {
  if (lease.state === 'free') return true;
  return lease.state === 'quarantined' && (lease.availableAt as string) <= iso(now);
}

/** The host item exactly as the store writes it (also for bulk seeding in benchmarks and tests). */
export function hostItem(host: HostRecord): Item {
  return { ...keys.host(host.id), ...hostIndexKey(host.role, host.id), ...host };
}

/** The lease item of a host's address, as the store writes it. */
export function leaseItem(ip: string, hostId: string, at: Date): Item {
  return { ...keys.lease(ip), ip, hostId, state: 'held', leasedAt: iso(at) };
}

/** A certificate issued to a host: kept (TTL) until it expires, so a revocation can blocklist it. */
export function certificateItem(hostId: string, cert: IssuedCertificate): Item {
  return { ...keys.certificate(hostId, cert.notAfter, cert.fingerprint), fingerprint: cert.fingerprint, notAfter: iso(cert.notAfter), ttl: ttlOf(cert.notAfter) };
}

/**
 * The claim of a public key (canonical `NEBULA X25519 PUBLIC KEY` PEM) by a host, as a conditional
 * Put for the transaction that records a certificate for it: it succeeds when the key is new or
 * already the same host's. Keyed by a hash of the PEM, so the key index holds no key material.
 */
export function publicKeyClaim(tableName: string, hostId: string, publicKeyPem: string, at: Date) {
  return {
    Put: {
      TableName: tableName,
      Item: { ...publicKeyClaimKey(publicKeyPem), hostId, claimedAt: iso(at) },
      ConditionExpression: 'attribute_not_exists(pk) OR hostId = :hostId',
      ExpressionAttributeValues: { ':hostId': hostId },
    },
  };
}

export function publicKeyClaimKey(publicKeyPem: string) {
  return keys.publicKey(createHash('sha256').update(publicKeyPem).digest('hex'));
}

// lastSeenAt and the agent's versions live on the host's sighting item (host-seen.ts); the ones a
// host item written before that still carries are stale and not read.
const HOST_FIELDS = [
  'id', 'name', 'role', 'ip', 'groups', 'status', 'createdAt', 'endpoints', 'tokenHash', 'publicKey', 'certificate',
  'certificateFingerprint', 'certificateExpiresAt', 'credentialHash', 'credentialUsedAt', 'enrolledAt', 'revokedAt', 'instanceId',
  'owner', 'ports', 'portsRevision',
] as const;

export function toHost(item: Item): HostRecord {
  const host: Record<string, unknown> = {};
  for (const field of HOST_FIELDS) if (item[field] !== undefined) host[field] = item[field];
  return host as unknown as HostRecord;
}

/** A cursor that this store did not hand out. */
export class InvalidCursorError extends StoreError {
  override readonly name = 'InvalidCursorError';
  constructor() {
    super('cursor is not one this API returned');
  }
}
