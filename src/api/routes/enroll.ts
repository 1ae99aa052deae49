import { PublicKeyTakenError, StateConflictError, type HostRecord } from '../../store';
import { type ApiContext, issueCertificate, parsePublicKey } from '../context';
import { renderHostConfig } from '../host-config';
import type { ApiRequest, ApiResponse } from '../http';
import { conflict, jsonResponse, unauthorized } from '../problem';
import { ENROLLMENT_TOKEN_PREFIX, hashSecret, HOST_CREDENTIAL_PREFIX, newSecret } from '../secrets';
import { enrollBody, parseJsonBody } from '../validation';

/**
 * `POST /v1/enroll {token, publicKey}`: signs the host's first certificate. The token works once;
 * a retry with the same token and the same key returns the same host (a fresh credential replaces
 * the earlier one) until the host has used its credential, after which the token is dead.
 */
export async function enroll(ctx: ApiContext, request: ApiRequest): Promise<ApiResponse> {
  const input = parseJsonBody(request.body, enrollBody);
  const publicKey = parsePublicKey(input.publicKey);
  if (!input.token.startsWith(ENROLLMENT_TOKEN_PREFIX)) throw unauthorized('not an enrollment token (gwe_...)', 'token');
  const tokenHash = hashSecret(input.token);
  const now = ctx.clock();
  const token = await ctx.store.getToken(tokenHash);
  if (!token) throw unauthorized('the enrollment token is unknown, used up or expired', 'token');
  if (token.expiresAt <= now.toISOString()) throw unauthorized('the enrollment token has expired', 'token');
  const host = await ctx.store.getHost(token.hostId);
  if (!host || host.status === 'revoked' || host.tokenHash !== tokenHash) {
    throw unauthorized('the enrollment token is unknown, used up or expired', 'token');
  }
  const view = await ctx.views.current();
  const credential = newSecret(HOST_CREDENTIAL_PREFIX);
  let enrolled: HostRecord;
  if (token.publicKey === undefined) {
    const certificate = await issueCertificate(ctx, view, host, publicKey);
    try {
      enrolled = await ctx.store.completeEnrollment({ host, tokenHash, credentialHash: hashSecret(credential), certificate, now });
    } catch (err) {
      if (err instanceof PublicKeyTakenError) throw conflict('public-key-taken', err.message, 'publicKey');
      if (!(err instanceof StateConflictError)) throw err;
      // A concurrent request with the same token won; it counts as the first enrollment.
      enrolled = await retry(ctx, host.id, tokenHash, publicKey.pem, credential);
    }
  } else {
    // Stryker disable next-line ConditionalExpression,BlockStatement: retry() below refuses another key with the same problem; this check only spares its read
    if (token.publicKey !== publicKey.pem) {
      throw conflict('token-used', 'the enrollment token was already used with another public key', 'token');
    }
    enrolled = await retry(ctx, host.id, tokenHash, publicKey.pem, credential);
  }
  ctx.feed.notifyHost(enrolled.id);
  // Stryker disable next-line ConditionalExpression: as `true` every enrollment would also wake every watcher, which finds its config unchanged and waits on (reads, no other effect)
  if (enrolled.role === 'egress') {
    // Environments route through it from now on: the store moved the config version.
    ctx.views.invalidate();
    ctx.feed.notifyNetwork();
  }
  ctx.logger?.info('host enrolled', { hostId: enrolled.id, fingerprint: enrolled.certificateFingerprint });
  const rendered = renderHostConfig(enrolled, view, now, ctx.settings.watchUrl);
  return jsonResponse(200, { ...rendered.body, credential });
}

async function retry(ctx: ApiContext, hostId: string, tokenHash: string, publicKeyPem: string, credential: string): Promise<HostRecord> {
  const token = await ctx.store.getToken(tokenHash);
  if (!token || token.publicKey !== publicKeyPem) {
    throw conflict('token-used', 'the enrollment token was already used with another public key', 'token');
  }
  try {
    return await ctx.store.replaceUnusedCredential({ hostId, tokenHash, credentialHash: hashSecret(credential) });
  } catch (err) {
    if (err instanceof StateConflictError) {
      throw conflict('token-used', 'the enrollment token is dead: the host has already used its credential', 'token');
    }
    throw err;
  }
}
