import { PutCommand } from '@aws-sdk/lib-dynamodb';
import { StateConflictError } from './errors';
import { keys, ttlOf } from './keys';
import type { TableAccess } from './table-access';
import { cancellationOf } from './transactions';

/** Where a CA rotation stands (see src/api/ca-rotation.ts for the transitions). */
export type CaRotationPhase = 'idle' | 'distributing' | 'signing' | 'retiring-old';

/**
 * A CA rotation as stored on the network item (`caRotation`), next to the bundle it governs, so a
 * transition writes both in one conditional update. Times are ISO 8601 UTC.
 */
export interface CaRotationRecord {
  readonly phase: CaRotationPhase;
  /** Rotations started so far; a transition is conditional on it and on the phase (optimistic lock). */
  readonly serial: number;
  readonly startedAt?: string;
  /** The bounded time a phase waits for hosts to hold its bundle. */
  readonly distributeSeconds?: number;
  /** `NEBULA CERTIFICATE` PEMs of the CA being replaced and of its successor. */
  readonly oldCa?: string;
  readonly newCa?: string;
  /** When the current bundle was written: a host holds it once it fetched its config after that. */
  readonly bundleSince?: string;
  /** Content hash of the current bundle; hosts that fetched it are recorded under it. */
  readonly bundleTag?: string;
  readonly signingSince?: string;
  /** No certificate the old CA signed is valid after this (set on entering `signing`). */
  readonly oldCaRetiresAt?: string;
  readonly completedAt?: string;
  /** The last count of active hosts and of those holding the current bundle (the sweep writes it). */
  readonly hostsHoldingBundle?: number;
  readonly hostsTotal?: number;
}

/** Hosts are recorded as holding a bundle this long; a rotation's phases are far shorter. */
const BUNDLE_HOLDER_TTL_MS = 90 * 86_400_000;

/**
 * Writes the bundle and the rotation record together, if the stored rotation is still `expected`
 * (same serial and phase), and bumps the config version so every host's config changes with it.
 * StateConflictError when another process moved the rotation first.
 */
export async function writeCaRotation(
  table: TableAccess,
  expected: Pick<CaRotationRecord, 'phase' | 'serial'>,
  next: { readonly caBundle: string; readonly rotation: CaRotationRecord },
): Promise<void> {
  const expectedIdle = expected.phase === 'idle' && expected.serial === 0;
  try {
    await table.transact([
      {
        Update: {
          TableName: table.tableName,
          Key: keys.network(),
          UpdateExpression: 'SET caBundle = :bundle, caRotation = :rotation',
          // The very first rotation finds no record at all.
          ConditionExpression: expectedIdle
            ? 'attribute_exists(pk) AND (attribute_not_exists(caRotation) OR (caRotation.serial = :serial AND caRotation.phase = :phase))'
            : 'caRotation.serial = :serial AND caRotation.phase = :phase',
          ExpressionAttributeValues: { ':bundle': next.caBundle, ':rotation': next.rotation, ':serial': expected.serial, ':phase': expected.phase },
        },
      },
      table.bumpVersion(keys.version()),
    ]);
  } catch (err) {
    if (cancellationOf(err)) throw new StateConflictError('the CA rotation changed meanwhile', { cause: err });
    throw err;
  }
}

/** Records that `hostId` fetched a config carrying the bundle `bundleTag` names (idempotent). */
export async function recordBundleHolder(table: TableAccess, bundleTag: string, hostId: string, now: Date): Promise<void> {
  await table.doc.send(
    new PutCommand({
      TableName: table.tableName,
      Item: { ...bundleHolderKey(bundleTag, hostId), hostId, at: now.toISOString(), ttl: ttlOf(new Date(now.getTime() + BUNDLE_HOLDER_TTL_MS)) },
    }),
  );
}

/** Every host recorded as holding the bundle `bundleTag` names: one key-condition query. */
export async function listBundleHolders(table: TableAccess, bundleTag: string): Promise<Set<string>> {
  const items = await table.queryAll({
    KeyConditionExpression: 'pk = :pk',
    ExpressionAttributeValues: { ':pk': `${BUNDLE_HOLDERS_PREFIX}${bundleTag}` },
    ProjectionExpression: 'hostId',
  });
  return new Set(items.map((i) => i.hostId as string));
}

/** Item key of a host holding a bundle: `CABUNDLE#<tag>` / `HOST#<hostId>` (TTL). */
const BUNDLE_HOLDERS_PREFIX = 'CABUNDLE#';
function bundleHolderKey(bundleTag: string, hostId: string) {
  return { pk: `${BUNDLE_HOLDERS_PREFIX}${bundleTag}`, sk: `HOST#${hostId}` };
}
