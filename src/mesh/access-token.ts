import { createPublicKey, type KeyObject, verify } from 'node:crypto';
import type { Signer } from '../pki/signer';
import { MeshError } from './errors';
import type { Principal } from './routes';

/**
 * Access tokens for the proxy: compact JWS (RFC 7515) with `alg: EdDSA` (RFC 8037), signed by a
 * `Signer` (so the key may live in KMS) and verified offline with the public key. Claims: `sub`,
 * `org`, `iat`, `exp`, and `aud` fixed to the proxy, so a token minted for something else by the
 * same key is not accepted here. The `typ` header tells a gateway token from an application's own
 * bearer token, which the proxy must pass through untouched.
 */

export const ACCESS_TOKEN_TYPE = 'gateway-access+jwt';
export const ACCESS_TOKEN_AUDIENCE = 'nebula-gateway-proxy';
/** Longest lifetime a minted token may have: they are meant to be short-lived. */
export const MAX_ACCESS_TOKEN_TTL_SECONDS = 24 * 3600;

export type AccessTokenErrorCode = 'malformed' | 'bad-signature' | 'expired' | 'not-yet-valid' | 'wrong-audience';

/** A token that is not acceptable; a `MeshError` about the field `token`, with a `code` saying why. */
export class AccessTokenError extends MeshError {
  constructor(
    readonly code: AccessTokenErrorCode,
    message: string,
  ) {
    super('token', message);
    this.name = 'AccessTokenError';
  }
}

export interface VerifiedAccessToken {
  readonly principal: Principal;
  readonly expiresAt: Date;
}

const HEADER_B64 = b64url(Buffer.from(JSON.stringify({ alg: 'EdDSA', typ: ACCESS_TOKEN_TYPE })));

/** Mints a token for `principal` valid for `ttlSeconds` from `now`. */
export async function mintAccessToken(options: {
  signer: Signer;
  principal: Principal;
  ttlSeconds: number;
  now?: Date;
}): Promise<string> {
  const { signer, principal, ttlSeconds } = options;
  if (!Number.isInteger(ttlSeconds) || ttlSeconds < 1 || ttlSeconds > MAX_ACCESS_TOKEN_TTL_SECONDS) {
    throw new RangeError(`ttlSeconds must be an integer from 1 to ${MAX_ACCESS_TOKEN_TTL_SECONDS}`);
  }
  if (!principal.subject || !principal.organization) throw new RangeError('principal needs a subject and an organization');
  const iat = Math.floor((options.now ?? new Date()).getTime() / 1000);
  const claims = { sub: principal.subject, org: principal.organization, aud: ACCESS_TOKEN_AUDIENCE, iat, exp: iat + ttlSeconds };
  const signingInput = `${HEADER_B64}.${b64url(Buffer.from(JSON.stringify(claims)))}`;
  // Stryker disable next-line StringLiteral: the signing input is base64url and dots, the same bytes in any ASCII-compatible encoding
  const signature = await signer.sign(Buffer.from(signingInput, 'ascii'));
  return `${signingInput}.${b64url(Buffer.from(signature))}`;
}

/**
 * Whether `token` has the shape and header of a gateway access token (not whether it is valid).
 * Cheap: decodes only the header.
 */
export function looksLikeAccessToken(token: string): boolean {
  const dot = token.indexOf('.');
  // Stryker disable next-line EqualityOperator: a token starting with a dot has an empty header, which is not ours either way
  if (dot < 0) return false;
  // Stryker disable next-line ConditionalExpression,MethodExpression: a fast path; the decoded header below answers the same
  if (token.slice(0, dot) === HEADER_B64) return true;
  const header = decodeJson(token.slice(0, dot));
  return header?.typ === ACCESS_TOKEN_TYPE;
}

/** Claims a token may carry; any other claim makes it unacceptable (the proxy and the minter are one code base). */
const KNOWN_CLAIMS = new Set(['sub', 'org', 'aud', 'iat', 'exp', 'nbf']);

/**
 * Verifies a token offline; throws `AccessTokenError` saying why it is not acceptable.
 * Strict on purpose, so that one token has exactly one spelling (tokens are cache keys):
 * every part is canonical unpadded base64url; the header is exactly `{alg: EdDSA, typ}` (no
 * `kid`, `jku`, `jwk`, `x5u`, `x5c` or `crit`: there is one key and it is configured, never
 * named by the token); claims are `sub`, `org`, `aud` (the proxy), integer `iat` and `exp`
 * (a lifetime of at most MAX_ACCESS_TOKEN_TTL_SECONDS) and an optional integer `nbf`.
 * `clockSkewSeconds` tolerates a minting clock that runs ahead (`iat`/`nbf` in the future);
 * expiry is never extended.
 */
export function verifyAccessToken(
  token: string,
  publicKey: KeyObject,
  options: { now?: Date; clockSkewSeconds?: number } = {},
): VerifiedAccessToken {
  const parts = token.split('.');
  if (parts.length !== 3 || !parts.every(isCanonicalBase64url)) {
    throw new AccessTokenError('malformed', 'not a compact JWS of canonical base64url parts');
  }
  const header = decodeJson(parts[0]);
  if (!header || !hasExactly(header, HEADER_PARAMS) || header.alg !== 'EdDSA' || header.typ !== ACCESS_TOKEN_TYPE) {
    throw new AccessTokenError('malformed', 'not a gateway access token header');
  }
  const signature = Buffer.from(parts[2], 'base64url');
  if (signature.length !== 64) throw new AccessTokenError('malformed', 'an Ed25519 signature has 64 bytes');
  // Stryker disable next-line StringLiteral: the parts are canonical base64url (checked above), the same bytes in any ASCII-compatible encoding
  const signed = verify(null, Buffer.from(`${parts[0]}.${parts[1]}`, 'ascii'), publicKey, signature);
  if (!signed) throw new AccessTokenError('bad-signature', 'signature does not verify');
  const claims = decodeJson(parts[1]);
  if (!claims || Object.keys(claims).some((k) => !KNOWN_CLAIMS.has(k))) {
    throw new AccessTokenError('malformed', 'claims are sub, org, aud, iat, exp and optionally nbf');
  }
  const { sub, org, aud, iat, exp, nbf } = claims;
  if (typeof sub !== 'string' || !sub || typeof org !== 'string' || !org || !isSeconds(exp) || !isSeconds(iat) || (nbf !== undefined && !isSeconds(nbf))) {
    throw new AccessTokenError('malformed', 'claims need sub, org, integer iat and exp (and nbf, if any)');
  }
  if (aud !== ACCESS_TOKEN_AUDIENCE) throw new AccessTokenError('wrong-audience', 'token is not for the proxy');
  if (exp <= iat || exp - iat > MAX_ACCESS_TOKEN_TTL_SECONDS) {
    throw new AccessTokenError('malformed', `lifetime (exp - iat) must be 1 to ${MAX_ACCESS_TOKEN_TTL_SECONDS} seconds`);
  }
  const now = (options.now ?? new Date()).getTime() / 1000;
  const skew = options.clockSkewSeconds ?? 30;
  if (now >= exp) throw new AccessTokenError('expired', 'token has expired');
  // Stryker disable next-line ConditionalExpression: `nbf !== undefined` as true compares with undefined, which is false, as without nbf
  if (now + skew < iat || (nbf !== undefined && now + skew < nbf)) throw new AccessTokenError('not-yet-valid', 'token is not valid yet');
  return { principal: { subject: sub, organization: org }, expiresAt: new Date(exp * 1000) };
}

const HEADER_PARAMS = ['alg', 'typ'];

function hasExactly(object: Record<string, unknown>, keys: readonly string[]): boolean {
  const own = Object.keys(object);
  // Stryker disable next-line MethodExpression: a header with the right count but another name fails the alg/typ check that follows
  return own.length === keys.length && keys.every((k) => Object.hasOwn(object, k));
}

function isSeconds(value: unknown): value is number {
  // Stryker disable next-line ConditionalExpression: Number.isSafeInteger is false for anything that is not a number
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

/**
 * Unpadded base64url whose unused trailing bits are zero: the one spelling of its bytes
 * (Node's decoder ignores those bits, so 4 or 16 strings would otherwise decode alike).
 */
function isCanonicalBase64url(part: string): boolean {
  if (!/^[A-Za-z0-9_-]+$/.test(part)) return false;
  const rest = part.length % 4;
  if (rest === 1) return false;
  if (rest === 0) return true;
  const last = BASE64URL.indexOf(part[part.length - 1]);
  return (last & (rest === 2 ? 0x0f : 0x03)) === 0;
}

const BASE64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

/**
 * Reads the proxy's verification key: a `PUBLIC KEY` PEM (SPKI), or a raw 32-byte Ed25519 key as
 * nebula writes it (`NEBULA ED25519 PUBLIC KEY` PEM), as the control plane publishes either.
 */
export function loadAccessTokenPublicKey(text: string | Uint8Array): KeyObject {
  // Stryker disable next-line ConditionalExpression,StringLiteral: a string is never 32 bytes of key here (a PEM is longer), so it takes the PEM path either way
  const raw = typeof text === 'string' ? undefined : text;
  if (raw && raw.length === 32) return ed25519FromRaw(raw);
  // Stryker disable next-line ConditionalExpression,StringLiteral: a string read back through Buffer is the same string
  const pem = typeof text === 'string' ? text : Buffer.from(text).toString('utf8');
  const nebula = /-----BEGIN NEBULA ED25519 PUBLIC KEY-----([\s\S]*?)-----END NEBULA ED25519 PUBLIC KEY-----/.exec(pem);
  if (nebula) {
    // Stryker disable next-line Regex: removing blanks one at a time or in runs leaves the same text
    const bytes = Buffer.from(nebula[1].replace(/\s+/g, ''), 'base64');
    if (bytes.length !== 32) throw new AccessTokenError('malformed', 'NEBULA ED25519 PUBLIC KEY must hold 32 bytes');
    return ed25519FromRaw(bytes);
  }
  let key: KeyObject;
  try {
    key = createPublicKey(pem);
  } catch {
    throw new AccessTokenError('malformed', 'expected a PUBLIC KEY or NEBULA ED25519 PUBLIC KEY PEM');
  }
  if (key.asymmetricKeyType !== 'ed25519') throw new AccessTokenError('malformed', `expected an Ed25519 key, got ${key.asymmetricKeyType}`);
  return key;
}

function ed25519FromRaw(raw: Uint8Array): KeyObject {
  return createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: b64url(Buffer.from(raw)) }, format: 'jwk' });
}

function b64url(bytes: Buffer): string {
  return bytes.toString('base64url');
}

function decodeJson(part: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
    // Stryker disable next-line ConditionalExpression,LogicalOperator: the header and claims checks that follow refuse anything but a plain object anyway
    return value && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  }
  // Stryker disable next-line BlockStatement: an empty catch also ends the function with undefined (the directive sits here so that it leads the catch clause)
  catch {
    return undefined;
  }
}
