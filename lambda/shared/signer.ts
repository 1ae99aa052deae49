import type { Signer } from '../../src/pki/signer';

/** Thrown by the signer of a function that has no access to the key it was asked to use. */
export class NotASigningFunctionError extends Error {
  override readonly name = 'NotASigningFunctionError';
}

/**
 * The signer of a function that must never sign (its role has no access to the CA key):
 * any use is a bug in routing, reported as such rather than as an AWS access-denied error.
 */
export const NO_SIGNER: Signer = {
  publicKey: () => Promise.reject(new NotASigningFunctionError('this function has no access to the CA key')),
  sign: () => Promise.reject(new NotASigningFunctionError('this function has no access to the CA key')),
};

/** Where a key's backend and ARN are in the environment: `<prefix>_BACKEND`, `<prefix>_ARN`. */
type KeyPrefix = 'CA_KEY' | 'NEXT_CA_KEY' | 'TOKEN_KEY';

/**
 * The CA signer from the environment the CDK stack sets (CA_KEY_BACKEND, CA_KEY_ARN). The KMS or
 * Secrets Manager client is loaded on first use only: loading an SDK client costs
 * cold-start time, and most requests, even in signing functions, never sign.
 */
export function signerFromEnvironment(env: NodeJS.ProcessEnv): Signer {
  return keySignerFromEnvironment(env, 'CA_KEY') ?? NO_SIGNER;
}

/** The next CA key (NEXT_CA_KEY_BACKEND, NEXT_CA_KEY_ARN) while the stack has one (a CA rotation); otherwise none. */
export function nextSignerFromEnvironment(env: NodeJS.ProcessEnv): Signer | undefined {
  return keySignerFromEnvironment(env, 'NEXT_CA_KEY');
}

/**
 * The access token signer (the API's `tokenSigner`): the key itself where TOKEN_KEY_BACKEND and
 * TOKEN_KEY_ARN are set (the function that mints tokens); a verify-only signer where only
 * TOKEN_PUBLIC_KEY (base64 of the raw Ed25519 public key) is set, which is enough for
 * `GET /v1/network` to publish the key; otherwise none.
 */
export function tokenSignerFromEnvironment(env: NodeJS.ProcessEnv): Signer | undefined {
  const signer = keySignerFromEnvironment(env, 'TOKEN_KEY');
  if (signer) return signer;
  const encoded = env.TOKEN_PUBLIC_KEY;
  if (!encoded) return undefined;
  const raw = Buffer.from(encoded, 'base64');
  if (raw.length !== 32) throw new Error(`TOKEN_PUBLIC_KEY must be base64 of a 32-byte Ed25519 public key; got ${raw.length} bytes`);
  const publicKey = Uint8Array.from(raw);
  return {
    publicKey: () => Promise.resolve(publicKey),
    sign: () => Promise.reject(new NotASigningFunctionError('this function has no access to the access token key')),
  };
}

function keySignerFromEnvironment(env: NodeJS.ProcessEnv, prefix: KeyPrefix): Signer | undefined {
  const backend = env[`${prefix}_BACKEND`];
  const arn = env[`${prefix}_ARN`];
  if (!backend) return undefined;
  if (!arn) throw new Error(`${prefix}_ARN is not set`);
  if (backend !== 'kms' && backend !== 'secret') throw new Error(`${prefix}_BACKEND must be kms or secret, not ${backend}`);
  let loaded: Signer | undefined;
  // require() rather than import: esbuild then initialises these modules (and loads the SDK client)
  // at this call, on first use, instead of when the bundle starts.
  const signer = (): Signer => {
    if (loaded) return loaded;
    if (backend === 'kms') {
      const { KMSClient } = require('@aws-sdk/client-kms') as typeof import('@aws-sdk/client-kms');
      const { KmsSigner } = require('../../src/pki/kms-signer') as typeof import('../../src/pki/kms-signer');
      loaded = new KmsSigner(arn, new KMSClient({}));
    } else {
      const { SecretsManagerClient } = require('@aws-sdk/client-secrets-manager') as typeof import('@aws-sdk/client-secrets-manager');
      const { SecretSigner } = require('../../src/pki/secret-signer') as typeof import('../../src/pki/secret-signer');
      loaded = new SecretSigner(arn, new SecretsManagerClient({}));
    }
    return loaded;
  };
  return {
    publicKey: () => signer().publicKey(),
    sign: (message) => signer().sign(message),
  };
}
