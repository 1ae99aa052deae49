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

  it('refuses to mint long-lived or ownerless tokens', async () => {
    await expect(mintAccessToken({ signer: keys.signer, principal: alice, ttlSeconds: 7 * 86400 })).rejects.toThrow(RangeError);
    await expect(mintAccessToken({ signer: keys.signer, principal: { subject: '', organization: 'acme' }, ttlSeconds: 60 })).rejects.toThrow(RangeError);
  });
});
