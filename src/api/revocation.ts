import type { GatewayStore, HostRecord } from '../store';
import { ApiProblem } from './problem';
import type { ApiLogger, ApiSettings } from './settings';

/** What a revocation needs: an ApiContext has it all, and so does a function outside the HTTP API. */
export interface RevocationContext {
  readonly store: GatewayStore;
  readonly clock: () => Date;
  readonly settings: Pick<ApiSettings, 'minQuarantineSeconds'>;
  readonly logger?: ApiLogger;
}

/**
 * Revokes host `hostId`, as `DELETE /v1/hosts/{id}` does (and the node lifecycle function when the
 * ASG terminates a node): its certificates are blocklisted until they expire, its address
 * quarantined, a lighthouse leaves every config, and the config version moves. Idempotent; the
 * host as stored afterwards, or undefined when there is no such host. The caller refreshes its
 * own caches (a Lambda function that does not serve configs has none).
 */
export async function revokeHostById(ctx: RevocationContext, hostId: string, fields: Record<string, unknown> = {}): Promise<HostRecord | undefined> {
  const host = await ctx.store.revokeHost({ hostId, now: ctx.clock(), minQuarantineMs: ctx.settings.minQuarantineSeconds * 1000 });
  if (!host) return undefined;
  if (host.status !== 'revoked') throw new ApiProblem(500, 'internal', 'Internal error', 'revocation did not complete');
  ctx.logger?.info('host revoked', { hostId: host.id, role: host.role, ...fields });
  return host;
}
