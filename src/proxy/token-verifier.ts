import type { KeyObject } from 'node:crypto';
import { AccessTokenError, verifyAccessToken, type VerifiedAccessToken } from '../mesh/access-token';

/**
 * Verifies access tokens, remembering good ones until they expire: a browser sends the same
 * token with every request, and an Ed25519 verification costs more than proxying a small
 * response. Bad tokens are not remembered (nothing to gain; they are checked each time).
 */
export class TokenVerifier {
  private readonly cache = new Map<string, VerifiedAccessToken>();

  constructor(
    private readonly publicKey: KeyObject,
    private readonly options: { maxEntries?: number; now?: () => Date } = {},
  ) {}

  verify(token: string): VerifiedAccessToken {
    const now = this.options.now?.() ?? new Date();
    const hit = this.cache.get(token);
    if (hit) {
      if (hit.expiresAt.getTime() > now.getTime()) return hit;
      this.cache.delete(token);
      throw new AccessTokenError('expired', 'token has expired');
    }
    const verified = verifyAccessToken(token, this.publicKey, { now, clockSkewSeconds: 0 });
    if (this.cache.size >= (this.options.maxEntries ?? 10_000)) this.cache.clear();
    this.cache.set(token, verified);
    return verified;
  }
}
