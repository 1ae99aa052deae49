import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject, verify } from 'node:crypto';
import { PkiError } from './errors';
import {
  decodePem,
  ED25519_PRIVATE_KEY_BANNER,
  ED25519_PUBLIC_KEY_BANNER,
  encodePem,
  X25519_PRIVATE_KEY_BANNER,
  X25519_PUBLIC_KEY_BANNER,
} from './pem';

/**
 * Raw Ed25519 (CA) and X25519 (host) keys in nebula's layout, made and used through node:crypto.
 * node:crypto speaks DER: a raw key is the last 32 bytes of its PKCS#8 or SubjectPublicKeyInfo
 * encoding, and these fixed prefixes turn raw keys back into DER.
 */
const ED25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');
const ED25519_SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');
const X25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b656e04220420', 'hex');

export interface Ed25519KeyPair {
  /** nebula's Ed25519 private key: 32-byte seed followed by the 32-byte public key. */
  readonly privateKey: Uint8Array;
  readonly publicKey: Uint8Array;
}

export interface X25519KeyPair {
  /** The raw 32-byte scalar. */
  readonly privateKey: Uint8Array;
  readonly publicKey: Uint8Array;
}

function rawPublic(key: KeyObject): Buffer {
  return key.export({ format: 'der', type: 'spki' }).subarray(-32);
}

function rawPrivate(key: KeyObject): Buffer {
  return key.export({ format: 'der', type: 'pkcs8' }).subarray(-32);
}

function requireLength(key: Uint8Array, length: number, what: string): void {
  if (!(key instanceof Uint8Array) || key.length !== length) {
    throw new PkiError('invalid-key', `key was not ${length} bytes, is invalid ${what}`);
  }
}

export function generateEd25519KeyPair(): Ed25519KeyPair {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const pub = rawPublic(publicKey);
  return { privateKey: new Uint8Array(Buffer.concat([rawPrivate(privateKey), pub])), publicKey: new Uint8Array(pub) };
}

export function generateX25519KeyPair(): X25519KeyPair {
  const { privateKey, publicKey } = generateKeyPairSync('x25519');
  return { privateKey: new Uint8Array(rawPrivate(privateKey)), publicKey: new Uint8Array(rawPublic(publicKey)) };
}

/** X25519(private, base point). Accepts unclamped scalars as nebula-cert writes them. */
export function x25519PublicKeyFromPrivate(privateKey: Uint8Array): Uint8Array {
  requireLength(privateKey, 32, 'X25519 private key');
  const key = createPrivateKey({ key: Buffer.concat([X25519_PKCS8_PREFIX, privateKey]), format: 'der', type: 'pkcs8' });
  return new Uint8Array(rawPublic(createPublicKey(key)));
}

/** The Ed25519 public key a 32-byte seed derives. */
export function ed25519PublicKeyFromSeed(seed: Uint8Array): Uint8Array {
  return new Uint8Array(rawPublic(createPublicKey(ed25519PrivateKeyObject(seed))));
}

export function ed25519PrivateKeyObject(seed: Uint8Array): KeyObject {
  requireLength(seed, 32, 'ed25519 seed');
  return createPrivateKey({ key: Buffer.concat([ED25519_PKCS8_PREFIX, seed]), format: 'der', type: 'pkcs8' });
}

export function ed25519PublicKeyObject(publicKey: Uint8Array): KeyObject {
  requireLength(publicKey, 32, 'ed25519 public key');
  return createPublicKey({ key: Buffer.concat([ED25519_SPKI_PREFIX, publicKey]), format: 'der', type: 'spki' });
}

/** Pure Ed25519 (RFC 8032) verification; false for any bad signature, never a throw. */
export function verifyEd25519(publicKey: KeyObject, message: Uint8Array, signature: Uint8Array): boolean {
  try {
    return verify(null, message, publicKey, signature);
  } catch {
    return false;
  }
}

export function encodeX25519PrivateKeyPem(privateKey: Uint8Array): string {
  requireLength(privateKey, 32, 'X25519 private key');
  return encodePem(X25519_PRIVATE_KEY_BANNER, privateKey);
}

export function encodeX25519PublicKeyPem(publicKey: Uint8Array): string {
  requireLength(publicKey, 32, 'X25519 public key');
  return encodePem(X25519_PUBLIC_KEY_BANNER, publicKey);
}

export function encodeEd25519PrivateKeyPem(privateKey: Uint8Array): string {
  requireLength(privateKey, 64, 'ed25519 private key');
  return encodePem(ED25519_PRIVATE_KEY_BANNER, privateKey);
}

export function encodeEd25519PublicKeyPem(publicKey: Uint8Array): string {
  requireLength(publicKey, 32, 'ed25519 public key');
  return encodePem(ED25519_PUBLIC_KEY_BANNER, publicKey);
}

function parseKeyPem(text: string, banner: string, length: number, what: string): Uint8Array {
  const bytes = decodePem(text, banner);
  if (bytes.length !== length) throw new PkiError('invalid-pem', `key was not ${length} bytes, is invalid ${what}`);
  return new Uint8Array(bytes);
}

/** The field prime of Curve25519, 2^255 - 19. */
const P25519 = (1n << 255n) - 19n;

/**
 * The u-coordinates of every point of small order on Curve25519 and its twist (RFC 7748 section 7;
 * the list libsodium refuses): 0 (order 2), 1 (order 4), p - 1 (order 4 on the twist) and the two
 * points of order 8. X25519 with any of them gives the all-zero shared secret whatever the private
 * key, so such a "public key" has no private key behind it and would make every session key known.
 */
const SMALL_ORDER_U = new Set<bigint>([
  0n,
  1n,
  P25519 - 1n,
  325606250916557431795983626356110631294008115727848805560023387167927233504n,
  39382357235489614581723060781553021112529911719440698176882885853963445705823n,
]);

/**
 * Whether a raw X25519 public key is a small-order point, in any of its encodings: X25519 ignores
 * the top bit and reduces u modulo p (RFC 7748 section 5), so `u + p` and the top bit set name the
 * same point.
 */
export function isSmallOrderX25519(publicKey: Uint8Array): boolean {
  requireLength(publicKey, 32, 'X25519 public key');
  const u = BigInt(`0x${Buffer.from(publicKey).reverse().toString('hex')}`) & ((1n << 255n) - 1n);
  return SMALL_ORDER_U.has(u % P25519);
}

/**
 * The 32 raw bytes of a `NEBULA X25519 PUBLIC KEY` PEM (what a host sends to be signed); a
 * small-order point (see isSmallOrderX25519) is refused.
 */
export function parseX25519PublicKeyPem(text: string): Uint8Array {
  const key = parseKeyPem(text, X25519_PUBLIC_KEY_BANNER, 32, 'X25519 public key');
  if (isSmallOrderX25519(key)) {
    throw new PkiError('invalid-key', 'is a small-order X25519 point (such as all zeros): no private key matches it and every shared secret would be zero; generate a key pair');
  }
  return key;
}

export function parseX25519PrivateKeyPem(text: string): Uint8Array {
  return parseKeyPem(text, X25519_PRIVATE_KEY_BANNER, 32, 'X25519 private key');
}

export function parseEd25519PublicKeyPem(text: string): Uint8Array {
  return parseKeyPem(text, ED25519_PUBLIC_KEY_BANNER, 32, 'ed25519 public key');
}

/** A CA key, 64 bytes (seed || public key); see LocalSigner for the check that the halves match. */
export function parseEd25519PrivateKeyPem(text: string): Uint8Array {
  return parseKeyPem(text, ED25519_PRIVATE_KEY_BANNER, 64, 'ed25519 private key');
}
