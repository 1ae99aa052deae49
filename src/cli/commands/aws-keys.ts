import { KMSClient } from '@aws-sdk/client-kms';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { KmsSigner } from '../../pki/kms-signer';
import { SecretSigner } from '../../pki/secret-signer';
import type { Signer } from '../../pki/signer';

/** An Ed25519 key held in AWS: a KMS key (ECC_NIST_EDWARDS25519) or a Secrets Manager secret (see SecretSigner). */
export interface AwsKeyReference {
  readonly backend: 'kms' | 'secret';
  readonly arn: string;
}

const ARN = {
  kms: /^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key\/[A-Za-z0-9-]+$/,
  secret: /^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@-]+$/,
} as const;

/** `kms:<key ARN>` or `secret:<secret ARN>`; the message of the error says what is wrong, for the caller to prefix with the flag. */
export function parseAwsKeyReference(text: string): AwsKeyReference {
  const colon = text.indexOf(':');
  const backend = text.slice(0, colon);
  const arn = text.slice(colon + 1);
  if (colon < 0 || (backend !== 'kms' && backend !== 'secret')) {
    throw new Error('must be kms:<KMS key ARN> or secret:<Secrets Manager secret ARN>');
  }
  if (!ARN[backend].test(arn)) {
    throw new Error(backend === 'kms' ? 'kms: needs a KMS key ARN (arn:aws:kms:<region>:<account>:key/<id>)' : 'secret: needs a Secrets Manager secret ARN (arn:aws:secretsmanager:<region>:<account>:secret:<name>)');
  }
  return { backend, arn };
}

/** The signer for a key in AWS; the client takes region and credentials from the environment. */
export function awsSigner(key: AwsKeyReference): Signer {
  return key.backend === 'kms' ? new KmsSigner(key.arn, new KMSClient({})) : new SecretSigner(key.arn, new SecretsManagerClient({}));
}
