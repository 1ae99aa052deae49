import type { Signer } from '../../src/pki/signer';

/** Thrown by the signer of a function that has no access to the CA key. */
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

/**
 * The CA signer from the environment the CDK stack sets (CA_KEY_BACKEND, CA_KEY_ARN). The KMS or
 * Secrets Manager client is loaded on first use only: loading an SDK client costs
 * cold-start time, and most requests, even in signing functions, never sign.
 */
export function signerFromEnvironment(env: NodeJS.ProcessEnv): Signer {
  const backend = env.CA_KEY_BACKEND;
  const arn = env.CA_KEY_ARN;
  if (!backend) return NO_SIGNER;
  if (!arn) throw new Error('CA_KEY_ARN is not set');
  if (backend !== 'kms' && backend !== 'secret') throw new Error(`CA_KEY_BACKEND must be kms or secret, not ${backend}`);
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
