import { encodeX25519PrivateKeyPem, encodeX25519PublicKeyPem, generateX25519KeyPair, parseX25519PrivateKeyPem, x25519PublicKeyFromPrivate } from '../pki';

/** A host's nebula key pair as PEM, made on the host; the private key never leaves it. */
export interface HostKeyPair {
  readonly privateKeyPem: string;
  readonly publicKeyPem: string;
}

/** Generates an X25519 key pair in nebula's PEM banners. */
export function generateHostKeyPair(): HostKeyPair {
  const { privateKey, publicKey } = generateX25519KeyPair();
  return { privateKeyPem: encodeX25519PrivateKeyPem(privateKey), publicKeyPem: encodeX25519PublicKeyPem(publicKey) };
}

/** The public key PEM for a nebula X25519 private key PEM (re-enrolling with the key already on disk). */
export function publicKeyPemFor(privateKeyPem: string): string {
  return encodeX25519PublicKeyPem(x25519PublicKeyFromPrivate(parseX25519PrivateKeyPem(privateKeyPem)));
}

/** The raw X25519 public key of a nebula private key PEM (to match a key file with a certificate). */
export function publicKeyOf(privateKeyPem: string): Buffer {
  return Buffer.from(x25519PublicKeyFromPrivate(parseX25519PrivateKeyPem(privateKeyPem)));
}
