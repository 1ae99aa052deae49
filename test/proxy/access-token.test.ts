import { generateKeyPairSync } from 'node:crypto';
import nacl from 'tweetnacl';
import {
  ACCESS_TOKEN_AUDIENCE,
  AccessTokenError,
  loadAccessTokenPublicKey,
  looksLikeAccessToken,
  mintAccessToken,
  verifyAccessToken,
} from '../../src/mesh/access-token';
import { LocalSigner } from '../../src/pki/local-signer';
import { generateEd25519KeyPair } from '../../src/pki/keys';
import { TokenVerifier } from '../../src/proxy/token-verifier';
import { testSigner } from './support';

const alice = { subject: 'alice', organization: 'acme' };
const now = new Date('2026-06-01T12:00:00Z');

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(AccessTokenError);
    return (err as AccessTokenError).code;
  }
  throw new Error('accepted');
}

describe('access tokens', () => {
  const keys = testSigner();

  it('mints a compact EdDSA JWS for a principal that verifies offline, and under tweetnacl', async () => {
    const token = await mintAccessToken({ signer: keys.signer, principal: alice, ttlSeconds: 300, now });
    const [h, p, s] = token.split('.');
    expect(JSON.parse(Buffer.from(h, 'base64url').toString())).toEqual({ alg: 'EdDSA', typ: 'gateway-access+jwt' });
    expect(JSON.parse(Buffer.from(p, 'base64url').toString())).toEqual({
      sub: 'alice',
      org: 'acme',
      aud: ACCESS_TOKEN_AUDIENCE,
      iat: now.getTime() / 1000,
      exp: now.getTime() / 1000 + 300,
    });
    expect(nacl.sign.detached.verify(Buffer.from(`${h}.${p}`), Buffer.from(s, 'base64url'), keys.rawPublicKey)).toBe(true);
    const verified = verifyAccessToken(token, keys.publicKey, { now: new Date(now.getTime() + 299_000), clockSkewSeconds: 0 });
    expect(verified).toEqual({ principal: alice, expiresAt: new Date(now.getTime() + 300_000) });
    expect(looksLikeAccessToken(token)).toBe(true);
    expect(looksLikeAccessToken('eyJhbGciOiJSUzI1NiJ9.e30.sig')).toBe(false);
  });

  it('works with the project LocalSigner (a nebula CA key) and a NEBULA ED25519 PUBLIC KEY PEM', async () => {
    const pair = generateEd25519KeyPair();
    const token = await mintAccessToken({ signer: new LocalSigner(pair.privateKey), principal: alice, ttlSeconds: 60 });
    const pem = `-----BEGIN NEBULA ED25519 PUBLIC KEY-----\n${Buffer.from(pair.publicKey).toString('base64')}\n-----END NEBULA ED25519 PUBLIC KEY-----\n`;
    expect(verifyAccessToken(token, loadAccessTokenPublicKey(pem)).principal).toEqual(alice);
    const spki = generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'pem' }).toString();
    expect(loadAccessTokenPublicKey(spki).asymmetricKeyType).toBe('ed25519');
    const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ type: 'spki', format: 'pem' }).toString();
    expect(() => loadAccessTokenPublicKey(rsa)).toThrow(/Ed25519/);
    expect(() => loadAccessTokenPublicKey('garbage')).toThrow(AccessTokenError);
  });

  it('refuses expired, not-yet-valid, tampered, foreign-key and malformed tokens with a reason', async () => {
    const token = await mintAccessToken({ signer: keys.signer, principal: alice, ttlSeconds: 300, now });
    const at = (ms: number) => ({ now: new Date(now.getTime() + ms), clockSkewSeconds: 0 });
    expect(codeOf(() => verifyAccessToken(token, keys.publicKey, at(300_000)))).toBe('expired');
    expect(codeOf(() => verifyAccessToken(token, keys.publicKey, at(-1000)))).toBe('not-yet-valid');
    const [h, p, s] = token.split('.');
    const forged = Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(p, 'base64url').toString()), sub: 'mallory' })).toString('base64url');
    expect(codeOf(() => verifyAccessToken(`${h}.${forged}.${s}`, keys.publicKey, at(0)))).toBe('bad-signature');
    expect(codeOf(() => verifyAccessToken(token, testSigner().publicKey, at(0)))).toBe('bad-signature');
    expect(codeOf(() => verifyAccessToken(`${h}.${p}`, keys.publicKey, at(0)))).toBe('malformed');
    const noneAlg = Buffer.from(JSON.stringify({ alg: 'none', typ: 'gateway-access+jwt' })).toString('base64url');
    expect(codeOf(() => verifyAccessToken(`${noneAlg}.${p}.${s}`, keys.publicKey, at(0)))).toBe('malformed');
  });

  /** A token signed by the real key with any header and claims: a refusal is then never a signature failure. */
  async function signed(header: object, claims: object): Promise<string> {
    const input = `${b64(header)}.${b64(claims)}`;
    return `${input}.${Buffer.from(await keys.signer.sign(Buffer.from(input))).toString('base64url')}`;
  }
  const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const HEADER = { alg: 'EdDSA', typ: 'gateway-access+jwt' };
  const iat = now.getTime() / 1000;
  const CLAIMS = { sub: 'alice', org: 'acme', aud: ACCESS_TOKEN_AUDIENCE, iat, exp: iat + 300 };
  const at = (ms: number, clockSkewSeconds = 0) => ({ now: new Date(now.getTime() + ms), clockSkewSeconds });

  it('accepts only one spelling of a token: canonical unpadded base64url in every part', async () => {
    const token = await mintAccessToken({ signer: keys.signer, principal: alice, ttlSeconds: 300, now });
    expect(verifyAccessToken(token, keys.publicKey, at(0)).principal).toEqual(alice);
    const parts = token.split('.');
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const twinCounts: number[] = [];
    for (let i = 0; i < 3; i++) {
      // Every other last character that decodes to the same bytes (Node ignores the unused bits).
      const twins = [...alphabet]
        .map((c) => parts[i].slice(0, -1) + c)
        .filter((p) => p !== parts[i] && Buffer.from(p, 'base64url').equals(Buffer.from(parts[i], 'base64url')));
      twinCounts.push(twins.length);
      for (const twin of twins) {
        const variant = parts.map((p, j) => (j === i ? twin : p)).join('.');
        expect({ part: i, twin, code: codeOf(() => verifyAccessToken(variant, keys.publicKey, at(0))) }).toEqual({ part: i, twin, code: 'malformed' });
      }
      const padded = parts.map((p, j) => (j === i ? p + '='.repeat((4 - (p.length % 4)) % 4 || 4) : p)).join('.');
      expect(codeOf(() => verifyAccessToken(padded, keys.publicKey, at(0)))).toBe('malformed');
      const standardAlphabet = parts.map((p, j) => (j === i ? `+/${p.slice(2)}` : p)).join('.');
      expect(codeOf(() => verifyAccessToken(standardAlphabet, keys.publicKey, at(0)))).toBe('malformed');
    }
    // A 64-byte signature is 86 characters with 4 unused bits: 15 twins, each refused above.
    expect(twinCounts[2]).toBe(15);
    // A 5-character tail cannot be base64 at all; a short signature is not an Ed25519 signature.
    expect(codeOf(() => verifyAccessToken(`${parts[0]}.${parts[1]}.${parts[2]}A`, keys.publicKey, at(0)))).toBe('malformed');
    expect(codeOf(() => verifyAccessToken(`${parts[0]}.${parts[1]}.${parts[2].slice(0, 84)}`, keys.publicKey, at(0)))).toBe('malformed');
  });

  it('refuses any header but exactly {alg: EdDSA, typ}: no kid, jku, jwk, x5u, x5c, crit or other algorithm', async () => {
    expect(verifyAccessToken(await signed(HEADER, CLAIMS), keys.publicKey, at(0)).principal).toEqual(alice);
    expect(verifyAccessToken(await signed({ typ: HEADER.typ, alg: 'EdDSA' }, CLAIMS), keys.publicKey, at(0)).principal).toEqual(alice);
    const headers: object[] = [
      { ...HEADER, kid: 'k1' },
      { ...HEADER, jku: 'https://evil.example/jwks' },
      { ...HEADER, jwk: { kty: 'OKP', crv: 'Ed25519', x: 'AAAA' } },
      { ...HEADER, x5u: 'https://evil.example/cert' },
      { ...HEADER, x5c: ['MIIB'] },
      { ...HEADER, crit: ['exp'] },
      { ...HEADER, b64: false },
      { alg: 'eddsa', typ: HEADER.typ },
      { alg: 'Ed25519', typ: HEADER.typ },
      { alg: 'none', typ: HEADER.typ },
      { alg: 'EdDSA', typ: 'JWT' },
      { alg: 'EdDSA' },
    ];
    for (const header of headers) {
      const token = await signed(header, CLAIMS);
      expect({ header, code: codeOf(() => verifyAccessToken(token, keys.publicKey, at(0))) }).toEqual({ header, code: 'malformed' });
    }
  });

  it('checks every claim: types, audience, lifetime, nbf, unknown claims', async () => {
    const cases: [string, object, string][] = [
      ['issuer is not a claim of this design', { ...CLAIMS, iss: 'someone' }, 'malformed'],
      ['iat must be an integer', { ...CLAIMS, iat: iat + 0.5 }, 'malformed'],
      ['exp must be a number', { ...CLAIMS, exp: String(iat + 300) }, 'malformed'],
      ['sub must be non-empty', { ...CLAIMS, sub: '' }, 'malformed'],
      ['org must be a string', { ...CLAIMS, org: ['acme'] }, 'malformed'],
      ['aud is the proxy, as a string', { ...CLAIMS, aud: [ACCESS_TOKEN_AUDIENCE] }, 'wrong-audience'],
      ['aud is required', { sub: 'alice', org: 'acme', iat, exp: iat + 300 }, 'wrong-audience'],
      ['lifetime at most 24 h', { ...CLAIMS, exp: iat + 24 * 3600 + 1 }, 'malformed'],
      ['exp after iat', { ...CLAIMS, exp: iat }, 'malformed'],
      ['nbf in the future', { ...CLAIMS, nbf: iat + 60 }, 'not-yet-valid'],
      ['nbf must be an integer', { ...CLAIMS, nbf: 'soon' }, 'malformed'],
    ];
    for (const [rule, claims, code] of cases) {
      const token = await signed(HEADER, claims);
      expect({ rule, code: codeOf(() => verifyAccessToken(token, keys.publicKey, at(0))) }).toEqual({ rule, code });
    }
    expect(verifyAccessToken(await signed(HEADER, { ...CLAIMS, nbf: iat - 10 }), keys.publicKey, at(0)).principal).toEqual(alice);
    expect(verifyAccessToken(await signed(HEADER, { ...CLAIMS, exp: iat + 24 * 3600 }), keys.publicKey, at(0)).principal).toEqual(alice);
  });

  it('tolerates a minting clock that runs ahead, but never extends expiry', async () => {
    const token = await signed(HEADER, CLAIMS);
    expect(verifyAccessToken(token, keys.publicKey, at(-20_000, 30)).principal).toEqual(alice);
    expect(codeOf(() => verifyAccessToken(token, keys.publicKey, at(-40_000, 30)))).toBe('not-yet-valid');
    expect(verifyAccessToken(token, keys.publicKey, at(299_999, 30)).principal).toEqual(alice);
    expect(codeOf(() => verifyAccessToken(token, keys.publicKey, at(300_000, 3600)))).toBe('expired');
  });

  it("the proxy's token cache never serves a token past its expiry, nor a second spelling of a cached one", async () => {
    let clock = now.getTime();
    const verifier = new TokenVerifier(keys.publicKey, { now: () => new Date(clock) });
    const token = await signed(HEADER, CLAIMS);
    expect(verifier.verify(token).principal).toEqual(alice);
    // The same signature bytes, spelt with other unused bits: never a cache hit, always refused.
    const [h, p, s] = token.split('.');
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const twin = [...alphabet].map((c) => `${h}.${p}.${s.slice(0, -1)}${c}`).find((t) => t !== token && Buffer.from(t.split('.')[2], 'base64url').equals(Buffer.from(s, 'base64url')))!;
    expect(codeOf(() => verifier.verify(twin))).toBe('malformed');
    clock += 299_999;
    expect(verifier.verify(token).principal).toEqual(alice); // served from the cache
    clock += 1;
    expect(codeOf(() => verifier.verify(token))).toBe('expired');
    expect(codeOf(() => verifier.verify(token))).toBe('expired'); // and not re-admitted by a fresh verification
  });

  it('refuses to mint long-lived or ownerless tokens', async () => {
    await expect(mintAccessToken({ signer: keys.signer, principal: alice, ttlSeconds: 7 * 86400 })).rejects.toThrow(RangeError);
    await expect(mintAccessToken({ signer: keys.signer, principal: { subject: '', organization: 'acme' }, ttlSeconds: 60 })).rejects.toThrow(RangeError);
  });
});
