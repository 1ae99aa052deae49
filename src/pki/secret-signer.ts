import { createHash } from 'node:crypto';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { ED25519_PRIVATE_KEY_BANNER } from './pem';
import { ed25519PublicKeyFromSeed } from './keys';
import { LocalSigner } from './local-signer';
import type { Signer } from './signer';

/** Domain separation for deriving the CA seed from a generated secret string. */
const SEED_CONTEXT = 'nebula-gateway CA ed25519 seed v1\n';

/** A secret that holds no usable CA key. */
export class SecretSignerError extends Error {
  override readonly name = 'SecretSignerError';
}

/**
 * Signs with an Ed25519 CA key kept in Secrets Manager, for regions whose KMS lacks Ed25519.
 * The secret holds either a `NEBULA ED25519 PRIVATE KEY` PEM (an imported CA key) or the random
 * string Secrets Manager generated at deploy, from which the 32-byte seed is derived with
 * SHA-256 (the generated string has far more than 256 bits of entropy), so no key material ever
 * passes through CloudFormation. The key is read once per process.
 */
export class SecretSigner implements Signer {
  private loaded?: Promise<LocalSigner>;

  constructor(
    private readonly secretId: string,
    private readonly client: SecretsManagerClient = new SecretsManagerClient({}),
  ) {}

  async publicKey(): Promise<Uint8Array> {
    return (await this.signer()).publicKey();
  }

  async sign(message: Uint8Array): Promise<Uint8Array> {
    return (await this.signer()).sign(message);
  }

  private signer(): Promise<LocalSigner> {
    this.loaded ??= this.load().catch((err: unknown) => {
      this.loaded = undefined;
      throw err;
    });
    return this.loaded;
  }

  private async load(): Promise<LocalSigner> {
    const out = await this.client.send(new GetSecretValueCommand({ SecretId: this.secretId }));
    if (out.SecretString === undefined) throw new SecretSignerError(`secret ${this.secretId} has no string value`);
    return signerFromSecretString(out.SecretString);
  }
}

/** The LocalSigner a secret's value stands for (see SecretSigner). */
export function signerFromSecretString(value: string): LocalSigner {
  if (value.includes(`-----BEGIN ${ED25519_PRIVATE_KEY_BANNER}-----`)) return LocalSigner.fromPem(value);
  if (value.length < 32) throw new SecretSignerError('the secret is too short to seed a CA key (at least 32 characters)');
  const seed = createHash('sha256').update(SEED_CONTEXT).update(value, 'utf8').digest();
  return new LocalSigner(Buffer.concat([seed, ed25519PublicKeyFromSeed(seed)]));
}
