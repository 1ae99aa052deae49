import { KMSClient } from '@aws-sdk/client-kms';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { KmsSigner } from '../../src/pki/kms-signer';
import { SecretSigner } from '../../src/pki/secret-signer';
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

/** The CA signer from the environment the CDK stack sets (CA_KEY_BACKEND, CA_KEY_ARN). */
export function signerFromEnvironment(env: NodeJS.ProcessEnv): Signer {
  const backend = env.CA_KEY_BACKEND;
  const arn = env.CA_KEY_ARN;
  if (!backend) return NO_SIGNER;
  if (!arn) throw new Error('CA_KEY_ARN is not set');
  if (backend === 'kms') return new KmsSigner(arn, new KMSClient({}));
  if (backend === 'secret') return new SecretSigner(arn, new SecretsManagerClient({}));
  throw new Error(`CA_KEY_BACKEND must be kms or secret, not ${backend}`);
}
