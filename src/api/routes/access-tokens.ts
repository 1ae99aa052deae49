import { mintAccessToken } from '../../mesh/access-token';
import { requireAdmin } from '../auth';
import type { ApiContext } from '../context';
import type { ApiRequest, ApiResponse } from '../http';
import { ApiProblem, jsonResponse } from '../problem';
import { accessTokenBody, parseJsonBody } from '../validation';

export const DEFAULT_ACCESS_TOKEN_TTL_SECONDS = 3600;

/**
 * `POST /v1/access-tokens {subject, organization, ttlSeconds?}`: a short-lived token the proxies
 * verify offline with `accessTokenPublicKey` of `GET /v1/network`. Signed by the token signer,
 * never by the CA key. The token is in this response only; the gateway keeps nothing of it.
 */
export async function createAccessToken(ctx: ApiContext, request: ApiRequest): Promise<ApiResponse> {
  requireAdmin(ctx, request);
  const input = parseJsonBody(request.body, accessTokenBody);
  if (!ctx.tokenSigner) {
    throw new ApiProblem(501, 'no-token-signer', 'Not available', 'this gateway has no access token signing key');
  }
  const ttlSeconds = input.ttlSeconds ?? DEFAULT_ACCESS_TOKEN_TTL_SECONDS;
  // Whole seconds, as in the token's own iat/exp claims.
  const now = new Date(Math.floor(ctx.clock().getTime() / 1000) * 1000);
  const principal = { subject: input.subject, organization: input.organization };
  const token = await mintAccessToken({ signer: ctx.tokenSigner, principal, ttlSeconds, now });
  const expiresAt = new Date(now.getTime() + ttlSeconds * 1000).toISOString();
  ctx.logger?.info('access token issued', { ...principal, expiresAt });
  return jsonResponse(201, { token, expiresAt });
}
