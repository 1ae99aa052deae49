import { GetPublicKeyCommand, KMSClient, SignCommand } from '@aws-sdk/client-kms';
import type { Signer } from './signer';

/** DER prefix of an Ed25519 SubjectPublicKeyInfo (RFC 8410): SEQUENCE { SEQUENCE { OID 1.3.101.112 }, BIT STRING (33 bytes) }. */
const ED25519_SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');
/** KMS refuses RAW messages longer than this; a nebula certificate's details are far smaller. */
const MAX_RAW_MESSAGE_BYTES = 4096;

/** A KMS key that is not an Ed25519 signing key, or a KMS answer that is not what Ed25519 returns. */
export class KmsSignerError extends Error {
  override readonly name = 'KmsSignerError';
}

/**
 * Signs with an Ed25519 key that never leaves KMS (key spec ECC_NIST_EDWARDS25519, usage
 * SIGN_VERIFY). Uses pure Ed25519 (ED25519_SHA_512 over the RAW message): the pre-hashed variant
 * produces signatures nebula does not accept. The public key is fetched once and cached.
 */
export class KmsSigner implements Signer {
  private cachedPublicKey?: Promise<Uint8Array>;

  constructor(
    private readonly keyId: string,
    private readonly client: KMSClient = new KMSClient({}),
  ) {}

  publicKey(): Promise<Uint8Array> {
    this.cachedPublicKey ??= this.fetchPublicKey().catch((err: unknown) => {
      this.cachedPublicKey = undefined;
      throw err;
    });
    return this.cachedPublicKey;
  }

  async sign(message: Uint8Array): Promise<Uint8Array> {
    if (message.length > MAX_RAW_MESSAGE_BYTES) {
      throw new KmsSignerError(`KMS signs raw messages of at most ${MAX_RAW_MESSAGE_BYTES} bytes; got ${message.length}`);
    }
    const out = await this.client.send(
      new SignCommand({ KeyId: this.keyId, Message: message, MessageType: 'RAW', SigningAlgorithm: 'ED25519_SHA_512' }),
    );
    if (!out.Signature || out.Signature.length !== 64) {
      throw new KmsSignerError(`KMS returned a ${out.Signature?.length ?? 0}-byte signature for ${this.keyId}; Ed25519 signatures are 64 bytes`);
    }
    return Uint8Array.from(out.Signature);
  }

  private async fetchPublicKey(): Promise<Uint8Array> {
    const out = await this.client.send(new GetPublicKeyCommand({ KeyId: this.keyId }));
    if (out.KeySpec !== undefined && out.KeySpec !== 'ECC_NIST_EDWARDS25519') {
      throw new KmsSignerError(`KMS key ${this.keyId} has key spec ${out.KeySpec}; the CA needs ECC_NIST_EDWARDS25519`);
    }
    if (out.KeyUsage !== undefined && out.KeyUsage !== 'SIGN_VERIFY') {
      throw new KmsSignerError(`KMS key ${this.keyId} has key usage ${out.KeyUsage}; the CA needs SIGN_VERIFY`);
    }
    return ed25519PublicKeyFromSpki(out.PublicKey);
  }
}

/** The raw 32-byte key inside a DER Ed25519 SubjectPublicKeyInfo, after checking that is what it is. */
export function ed25519PublicKeyFromSpki(der: Uint8Array | undefined): Uint8Array {
  if (!der || der.length !== ED25519_SPKI_PREFIX.length + 32) {
    throw new KmsSignerError(`expected a ${ED25519_SPKI_PREFIX.length + 32}-byte Ed25519 SubjectPublicKeyInfo; got ${der?.length ?? 0} bytes`);
  }
  if (!Buffer.from(der.subarray(0, ED25519_SPKI_PREFIX.length)).equals(ED25519_SPKI_PREFIX)) {
    throw new KmsSignerError('public key is not an Ed25519 SubjectPublicKeyInfo (wrong algorithm identifier)');
  }
  return Uint8Array.from(der.subarray(ED25519_SPKI_PREFIX.length));
}
