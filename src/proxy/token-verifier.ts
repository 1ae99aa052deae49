import type { KeyObject } from 'node:crypto';
import { AccessTokenError, verifyAccessToken, type VerifiedAccessToken } from '../mesh/access-token';

/**
 * Verifies access tokens, remembering good ones until they expire: a browser sends the same
 * token with every request, and an Ed25519 verification costs more than proxying a small
 * response. A remembered token is checked against the clock on every use, so none is ever
 * served past its `exp`. Bad tokens are not remembered (nothing to gain; they are checked each time).
 */
export class TokenVerifier {
  private readonly cache = new Map<string, VerifiedAccessToken>();

  constructor(
    private readonly publicKey: KeyObject,
    private readonly options: { maxEntries?: number; now?: () => Date } = {},
  ) {}

  verify(token: string): VerifiedAccessToken {
    const nowMs = this.options.now ? this.options.now().getTime() : Date.now();
    const hit = this.cache.get(token);
    if (hit) {
      if (nowMs < hit.expiresAt.getTime()) return hit;
      this.cache.delete(token);
      throw new AccessTokenError('expired', 'token has expired');
    }
    const verified = verifyAccessToken(token, this.publicKey, { now: new Date(nowMs) });
    if (this.cache.size >= (this.options.maxEntries ?? 10_000)) this.cache.clear();
    this.cache.set(token, verified);
    return verified;
  }
}
