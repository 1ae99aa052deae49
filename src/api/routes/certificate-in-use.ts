import * as z from 'zod/mini';
import { StateConflictError } from '../../store';
import { requireHost } from '../auth';
import type { ApiContext } from '../context';
import type { ApiRequest, ApiResponse } from '../http';
import { conflict, jsonResponse } from '../problem';
import { parseJsonBody } from '../validation';

export const certificateInUseBody = z.strictObject({
  fingerprint: z.string().check(z.regex(/^[0-9a-f]{64}$/, 'must be the certificate fingerprint nebula-cert prints (64 lowercase hex digits)')),
});

/**
 * `POST /v1/hosts/{id}/certificate-in-use {fingerprint}` (host credential): the agent says its
 * nebula now runs on its current certificate, after a renewal for a new key. Every other
 * unexpired certificate of the host (the old key's) is blocklisted on every node until it
 * expires, so tunnels still made with it are torn down by the peers (`pki.disconnect_invalid`)
 * and made again with the new one, and the old key cannot be used again even if it leaked.
 * Until this call the old certificate stays valid: blocklisting it at the renewal itself would
 * cut the host off before its nebula has the new one. 409 naming `fingerprint` when that is not
 * the host's current certificate (a newer renewal came between). Idempotent.
 */
export async function certificateInUse(ctx: ApiContext, request: ApiRequest, hostId: string): Promise<ApiResponse> {
  const input = parseJsonBody(request.body, certificateInUseBody);
  const host = await requireHost(ctx, request, hostId);
  const notCurrent = () => conflict('certificate-not-current', `certificate ${input.fingerprint} is not the current certificate of host ${hostId}`, 'fingerprint');
  if (host.certificateFingerprint !== input.fingerprint) throw notCurrent();
  let retired: string[];
  try {
    retired = await ctx.store.retirePreviousCertificates({ hostId, fingerprint: input.fingerprint, now: ctx.clock() });
  } catch (err) {
    if (err instanceof StateConflictError) throw notCurrent();
    throw err;
  }
  if (retired.length > 0) {
    ctx.views.invalidate();
    ctx.feed.notifyNetwork();
    ctx.logger?.info('previous certificates retired', { hostId, fingerprints: retired });
  }
  return jsonResponse(200, { retired });
}
