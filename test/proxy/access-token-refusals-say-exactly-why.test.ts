/**
 * Access tokens (src/mesh/access-token.ts) and the proxy's cache of them (token-verifier.ts), at
 * the edges the broader tests in access-token.test.ts leave open. The rules: every refusal is an
 * AccessTokenError about the field `token` with its reason's code and message; claims are checked
 * for type, boundaries included; the clock skew defaults to 30 s and only ever delays refusal of
 * early tokens, never of expired ones; the verification key loads from each form the control plane
 * publishes; minting refuses what verification would; the cache stays within its bound.
 */
import {
  ACCESS_TOKEN_AUDIENCE,
  AccessTokenError,
  loadAccessTokenPublicKey,
  looksLikeAccessToken,
  MAX_ACCESS_TOKEN_TTL_SECONDS,
  mintAccessToken,
  verifyAccessToken,
} from '../../src/mesh/access-token';
import { TokenVerifier } from '../../src/proxy/token-verifier';
import { testSigner } from './support';

const alice = { subject: 'alice', organization: 'acme' };
const NOW = new Date('2026-06-01T12:00:00Z');
const IAT = NOW.getTime() / 1000;
const HEADER = { alg: 'EdDSA', typ: 'gateway-access+jwt' };
const CLAIMS = { sub: 'alice', org: 'acme', aud: ACCESS_TOKEN_AUDIENCE, iat: IAT, exp: IAT + 300 };
const b64 = (value: unknown) => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');

/** The AccessTokenError `fn` throws, as {code, message, field, name}; fails if it accepts. */
function refusal(fn: () => unknown): { code: string; message: string; field: string; name: string } {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(AccessTokenError);
    const e = err as AccessTokenError;
    return { code: e.code, message: e.message, field: e.field, name: e.name };
  }
  throw new Error('accepted');
}

describe('access token refusals say exactly why', () => {
  const keys = testSigner();
  /** Signed by the real key over exactly these parts: a refusal is never a signature failure. */
  async function signedParts(headerPart: string, claimsPart: string): Promise<string> {
    const input = `${headerPart}.${claimsPart}`;
    return `${input}.${Buffer.from(await keys.signer.sign(Buffer.from(input, 'ascii'))).toString('base64url')}`;
  }
  const signed = (header: unknown, claims: unknown) => signedParts(b64(header), b64(claims));
  const verifyAt = (token: string, offsetSeconds = 0, options: { clockSkewSeconds?: number } = { clockSkewSeconds: 0 }) =>
    verifyAccessToken(token, keys.publicKey, { now: new Date(NOW.getTime() + offsetSeconds * 1000), ...options });

  it('names the field and the reason, with the message for each rule', async () => {
    const good = await signed(HEADER, CLAIMS);
    const [h, p, s] = good.split('.');
    const cases: [string, string, string, string][] = [
      ['two parts', `${h}.${p}`, 'malformed', 'not a compact JWS of canonical base64url parts'],
      ['another header', await signed({ alg: 'EdDSA', typ: 'JWT' }, CLAIMS), 'malformed', 'not a gateway access token header'],
      ['a header that is not JSON', await signedParts(b64('not json'), p), 'malformed', 'not a gateway access token header'],
      ['a short signature', `${h}.${p}.${s.slice(0, 84)}`, 'malformed', 'an Ed25519 signature has 64 bytes'],
      ['a foreign signature', `${h}.${b64({ ...CLAIMS, sub: 'mallory' })}.${s}`, 'bad-signature', 'signature does not verify'],
      ['an unknown claim', await signed(HEADER, { ...CLAIMS, iss: 'x' }), 'malformed', 'claims are sub, org, aud, iat, exp and optionally nbf'],
      ['claims that are not an object', await signed(HEADER, ['sub']), 'malformed', 'claims are sub, org, aud, iat, exp and optionally nbf'],
      ['another audience', await signed(HEADER, { ...CLAIMS, aud: 'someone-else' }), 'wrong-audience', 'token is not for the proxy'],
      ['a lifetime over the maximum', await signed(HEADER, { ...CLAIMS, exp: IAT + MAX_ACCESS_TOKEN_TTL_SECONDS + 1 }), 'malformed', `lifetime (exp - iat) must be 1 to ${MAX_ACCESS_TOKEN_TTL_SECONDS} seconds`],
    ];
    for (const [rule, token, code, message] of cases) {
      expect({ rule, ...refusal(() => verifyAt(token)) }).toEqual({ rule, code, message: `token: ${message}`, field: 'token', name: 'AccessTokenError' });
    }
    expect(refusal(() => verifyAt(good, 300))).toEqual({ code: 'expired', message: 'token: token has expired', field: 'token', name: 'AccessTokenError' });
    expect(refusal(() => verifyAt(good, -1))).toEqual({ code: 'not-yet-valid', message: 'token: token is not valid yet', field: 'token', name: 'AccessTokenError' });
  });

  it('checks the type of every claim: sub and org non-empty strings, iat, exp and nbf non-negative safe integers', async () => {
    const malformed = 'token: claims need sub, org, integer iat and exp (and nbf, if any)';
    const cases: [string, object][] = [
      ['sub a number', { ...CLAIMS, sub: 42 }],
      ['org empty', { ...CLAIMS, org: '' }],
      ['org missing', { sub: 'alice', aud: ACCESS_TOKEN_AUDIENCE, iat: IAT, exp: IAT + 300 }],
      ['iat a fraction', { ...CLAIMS, iat: IAT + 0.5 }],
      ['iat negative', { ...CLAIMS, iat: -5, exp: 55 }],
      ['exp past the safe integers', { ...CLAIMS, exp: 2 ** 60 }],
      ['exp missing', { sub: 'alice', org: 'acme', aud: ACCESS_TOKEN_AUDIENCE, iat: IAT }],
      ['nbf a string', { ...CLAIMS, nbf: String(IAT) }],
    ];
    for (const [rule, claims] of cases) {
      const token = await signed(HEADER, claims);
      expect({ rule, message: refusal(() => verifyAt(token)).message }).toEqual({ rule, message: malformed });
    }
    // Zero is a valid time (the epoch): such a token is merely long expired.
    const epoch = await signed(HEADER, { ...CLAIMS, iat: 0, exp: 60 });
    expect(refusal(() => verifyAt(epoch))).toMatchObject({ code: 'expired' });
  });

  it('refuses a part of 4n+1 characters even when its bytes would be right', async () => {
    // Claims whose base64url has no unused characters, then one dangling character Node would ignore.
    let claims: object = CLAIMS;
    for (let n = 0; b64(claims).length % 4 !== 0; n++) claims = { ...CLAIMS, sub: `alice${'x'.repeat(n)}` };
    const token = await signedParts(b64(HEADER), `${b64(claims)}A`);
    expect(refusal(() => verifyAt(token))).toMatchObject({ code: 'malformed', message: 'token: not a compact JWS of canonical base64url parts' });
    expect(verifyAt(await signedParts(b64(HEADER), b64(claims))).principal.organization).toBe('acme');
  });

  it('the clock skew defaults to 30 s, applies to iat and nbf alike, and never to exp', async () => {
    const early = await signed(HEADER, { ...CLAIMS, iat: IAT + 20, exp: IAT + 320 });
    expect(verifyAccessToken(early, keys.publicKey, { now: NOW }).principal).toEqual(alice);
    const tooEarly = await signed(HEADER, { ...CLAIMS, iat: IAT + 31, exp: IAT + 331 });
    expect(refusal(() => verifyAccessToken(tooEarly, keys.publicKey, { now: NOW })).code).toBe('not-yet-valid');
    // nbf: within the skew accepted, exactly at its edge accepted, one second past refused.
    for (const [nbf, accepted] of [[IAT + 20, true], [IAT + 30, true], [IAT + 31, false]] as const) {
      const token = await signed(HEADER, { ...CLAIMS, nbf });
      const outcome = accepted ? verifyAt(token, 0, { clockSkewSeconds: 30 }).principal : refusal(() => verifyAt(token, 0, { clockSkewSeconds: 30 })).code;
      expect({ nbf: nbf - IAT, outcome }).toEqual({ nbf: nbf - IAT, outcome: accepted ? alice : 'not-yet-valid' });
    }
    const token = await signed(HEADER, CLAIMS);
    expect(refusal(() => verifyAccessToken(token, keys.publicKey, { now: new Date(NOW.getTime() + 300_000) })).code).toBe('expired');
  });

  it('minted tokens carry the proxy audience by name, and minting refuses what verification would', async () => {
    const token = await mintAccessToken({ signer: keys.signer, principal: alice, ttlSeconds: 60, now: NOW });
    expect(JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString())).toEqual({ sub: 'alice', org: 'acme', aud: 'nebula-gateway-proxy', iat: IAT, exp: IAT + 60 });
    for (const ttlSeconds of [1, MAX_ACCESS_TOKEN_TTL_SECONDS]) {
      await expect(mintAccessToken({ signer: keys.signer, principal: alice, ttlSeconds, now: NOW })).resolves.toEqual(expect.any(String));
    }
    for (const ttlSeconds of [0, -1, 1.5, MAX_ACCESS_TOKEN_TTL_SECONDS + 1]) {
      await expect(mintAccessToken({ signer: keys.signer, principal: alice, ttlSeconds, now: NOW })).rejects.toThrow(new RangeError(`ttlSeconds must be an integer from 1 to ${MAX_ACCESS_TOKEN_TTL_SECONDS}`));
    }
    for (const principal of [{ subject: 'alice', organization: '' }, { subject: '', organization: 'acme' }]) {
      await expect(mintAccessToken({ signer: keys.signer, principal, ttlSeconds: 60 })).rejects.toThrow(new RangeError('principal needs a subject and an organization'));
    }
  });

  it('tells a gateway token from an application bearer token by its header alone', async () => {
    const minted = await mintAccessToken({ signer: keys.signer, principal: alice, ttlSeconds: 60 });
    const reordered = `${b64({ typ: 'gateway-access+jwt', alg: 'EdDSA' })}.x.y`;
    const cases: [string, string, boolean][] = [
      ['a minted token', minted, true],
      ['the same header spelt in another order', reordered, true],
      ['an application JWT', `${b64({ alg: 'HS256', typ: 'JWT' })}.x.y`, false],
      ['no dot at all, even starting with the header', `${b64(HEADER)}x`, false],
      ['an empty header', '.x.y', false],
      ['a header that is not JSON', 'garbage.x.y', false],
      ['a header that is JSON null', `${b64('null')}.x.y`, false],
    ];
    for (const [what, token, expected] of cases) expect({ what, looks: looksLikeAccessToken(token) }).toEqual({ what, looks: expected });
  });

  it('loads the verification key as SPKI PEM, as NEBULA ED25519 PUBLIC KEY PEM, as raw bytes, or as PEM bytes', async () => {
    const token = await mintAccessToken({ signer: keys.signer, principal: alice, ttlSeconds: 60 });
    const spki = keys.publicKey.export({ type: 'spki', format: 'pem' }).toString();
    const nebulaPem = `-----BEGIN NEBULA ED25519 PUBLIC KEY-----\n${Buffer.from(keys.rawPublicKey).toString('base64')}\n-----END NEBULA ED25519 PUBLIC KEY-----\n`;
    for (const form of [spki, nebulaPem, keys.rawPublicKey, new Uint8Array(Buffer.from(spki)), new Uint8Array(Buffer.from(nebulaPem))]) {
      expect(verifyAccessToken(token, loadAccessTokenPublicKey(form)).principal).toEqual(alice);
    }
    const short = `-----BEGIN NEBULA ED25519 PUBLIC KEY-----\n${Buffer.alloc(31, 7).toString('base64')}\n-----END NEBULA ED25519 PUBLIC KEY-----\n`;
    expect(refusal(() => loadAccessTokenPublicKey(short))).toMatchObject({ code: 'malformed', message: 'token: NEBULA ED25519 PUBLIC KEY must hold 32 bytes' });
    expect(refusal(() => loadAccessTokenPublicKey('not a key'))).toMatchObject({ code: 'malformed', message: 'token: expected a PUBLIC KEY or NEBULA ED25519 PUBLIC KEY PEM' });
    const { generateKeyPairSync } = await import('node:crypto');
    const rsa = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'pem' }).toString();
    expect(refusal(() => loadAccessTokenPublicKey(rsa))).toMatchObject({ code: 'malformed', message: 'token: expected an Ed25519 key, got ec' });
  });

  it("the proxy's cache: an expired cached token is refused with the expiry reason, and the cache stays within its bound", async () => {
    let clock = NOW.getTime();
    const verifier = new TokenVerifier(keys.publicKey, { now: () => new Date(clock), maxEntries: 2 });
    const cacheSize = () => (verifier as unknown as { cache: Map<string, unknown> }).cache.size;
    const tokens = await Promise.all(['a', 'b', 'c'].map((subject) => mintAccessToken({ signer: keys.signer, principal: { subject, organization: 'acme' }, ttlSeconds: 60, now: NOW })));
    verifier.verify(tokens[0]);
    expect(cacheSize()).toBe(1);
    verifier.verify(tokens[1]);
    expect(cacheSize()).toBe(2);
    verifier.verify(tokens[2]);
    expect(cacheSize()).toBe(1);
    clock += 60_000;
    expect(refusal(() => verifier.verify(tokens[2]))).toMatchObject({ code: 'expired', message: 'token: token has expired' });
    expect(cacheSize()).toBe(0);
    // Without a bound given, 10,000 entries.
    const roomy = new TokenVerifier(keys.publicKey, { now: () => new Date(NOW) });
    for (const token of tokens) roomy.verify(token);
    expect((roomy as unknown as { cache: Map<string, unknown> }).cache.size).toBe(3);
  });
});
