import { type KeyObject, sign } from 'node:crypto';
import { PkiError } from './errors';
import { ed25519PrivateKeyObject, ed25519PublicKeyFromSeed, parseEd25519PrivateKeyPem } from './keys';
import type { Signer } from './signer';

/**
 * A Signer over a CA key held in memory (a file, or a secret). The node:crypto KeyObject is
 * built once here, so each signature costs one Ed25519 operation and nothing more.
 */
export class LocalSigner implements Signer {
  readonly #key: KeyObject;
  readonly #publicKey: Uint8Array;

  /** From nebula's 64-byte Ed25519 private key (seed || public key); the halves must match. */
  constructor(privateKey: Uint8Array) {
    if (!(privateKey instanceof Uint8Array) || privateKey.length !== 64) {
      throw new PkiError('invalid-key', 'key was not 64 bytes, is invalid ed25519 private key');
    }
    const seed = privateKey.subarray(0, 32);
    const publicKey = ed25519PublicKeyFromSeed(seed);
    // Go signs with the stored public half; if it is not the seed's, every signature is invalid.
    if (!Buffer.from(publicKey).equals(privateKey.subarray(32))) {
      throw new PkiError('invalid-key', "ed25519 private key's public half does not match its seed");
    }
    this.#key = ed25519PrivateKeyObject(seed);
    this.#publicKey = publicKey;
  }

  /** From a `NEBULA ED25519 PRIVATE KEY` PEM, as `nebula-cert ca` writes it. */
  static fromPem(text: string): LocalSigner {
    return new LocalSigner(parseEd25519PrivateKeyPem(text));
  }

  publicKey(): Promise<Uint8Array> {
    return Promise.resolve(new Uint8Array(this.#publicKey));
  }

  sign(message: Uint8Array): Promise<Uint8Array> {
    // Not `async`: one promise less per signature on the issuing hot path.
    try {
      return Promise.resolve(sign(null, message, this.#key));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** The same signature without a promise, for callers that hold a LocalSigner specifically. */
  signSync(message: Uint8Array): Uint8Array {
    return sign(null, message, this.#key);
  }
}
