import { StateConflictError } from './errors';
import { CERT_PREFIX, iso, keys, ttlOf } from './keys';
import type { TableAccess, TransactItem } from './table-access';
import { cancellationOf } from './transactions';

/** TransactWriteItems takes up to 100 items; a host rarely holds more than two unexpired certificates. */
const MAX_RETIRED_IN_TRANSACTION = 90;

/**
 * A host says its nebula now runs on its current certificate (`fingerprint`): every other
 * unexpired certificate it was issued (the one of its previous key, after a key rotation) is
 * blocklisted until it expires, and the config version moves so every host hears of it. The
 * host must be active and `fingerprint` still its current certificate (else StateConflictError:
 * a renewal or revocation came between). Returns the fingerprints newly blocklisted; none when
 * they all were already (the version then stays).
 */
export async function retirePreviousCertificates(table: TableAccess, input: { hostId: string; fingerprint: string; now: Date }): Promise<string[]> {
  const { hostId, fingerprint, now } = input;
  const certificates = await table.queryAll({
    KeyConditionExpression: 'pk = :pk AND sk BETWEEN :from AND :to',
    ExpressionAttributeValues: { ':pk': keys.host(hostId).pk, ':from': `${CERT_PREFIX}${iso(now)}`, ':to': `${CERT_PREFIX}~` },
  });
  const previous = certificates.filter((c) => c.fingerprint !== fingerprint);
  const revocations = previous.map((c) => {
    const notAfter = new Date(c.notAfter as string);
    return { ...keys.revocation(notAfter, c.fingerprint as string), fingerprint: c.fingerprint as string, hostId, expiresAt: iso(notAfter), ttl: ttlOf(notAfter) };
  });
  const already = await Promise.all(revocations.map((r) => table.get({ pk: r.pk, sk: r.sk })));
  const fresh = revocations.filter((_, i) => already[i] === undefined).slice(0, MAX_RETIRED_IN_TRANSACTION);
  const items: TransactItem[] = [
    {
      ConditionCheck: {
        TableName: table.tableName,
        Key: keys.host(hostId),
        ConditionExpression: '#status = :active AND certificateFingerprint = :fp',
        ExpressionAttributeNames: { '#status': 'status' },
        ExpressionAttributeValues: { ':active': 'active', ':fp': fingerprint },
      },
    },
    ...fresh.map((r) => table.put(r)),
  ];
  if (fresh.length > 0) items.push(table.bumpVersion(keys.version()));
  try {
    await table.transact(items);
  } catch (err) {
    if (cancellationOf(err)) throw new StateConflictError(`host ${hostId} is not active on certificate ${fingerprint}`);
    throw err;
  }
  return fresh.map((r) => r.fingerprint);
}
