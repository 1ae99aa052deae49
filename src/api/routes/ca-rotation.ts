import * as z from 'zod/mini';
import { requireAdmin } from '../auth';
import { caRotationView, DEFAULT_DISTRIBUTE_SECONDS, MAX_DISTRIBUTE_SECONDS } from '../ca-rotation';
import { startCaRotation } from '../ca-rotation-service';
import type { ApiContext } from '../context';
import type { ApiRequest, ApiResponse } from '../http';
import { jsonResponse } from '../problem';
import { parseJsonBody } from '../validation';

export const caRotationBody = z.strictObject({
  distributeSeconds: z.optional(z.number().check(z.int(), z.minimum(0), z.maximum(MAX_DISTRIBUTE_SECONDS))),
});

/**
 * `POST /v1/network/ca-rotation {distributeSeconds?}` (admin): starts a CA rotation (see
 * src/api/ca-rotation.ts); 409 while one is under way or when there is no next CA key.
 */
export async function postCaRotation(ctx: ApiContext, request: ApiRequest): Promise<ApiResponse> {
  requireAdmin(ctx, request);
  const input = parseJsonBody(request.body, caRotationBody, { emptyIsObject: true });
  const rotation = await startCaRotation(ctx, input.distributeSeconds ?? DEFAULT_DISTRIBUTE_SECONDS);
  return jsonResponse(201, { caRotation: caRotationView(rotation) });
}
