import { RemovalPolicy, Validations } from 'aws-cdk-lib/core';
import { AnyPrincipal, Effect, type IGrantable, PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { Key, KeySpec, KeyUsage } from 'aws-cdk-lib/aws-kms';
import { Secret } from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';

export type CaKeyBackend = 'kms' | 'secret';

/**
 * Kept when removed from the stack or replaced, but deleted when their own create rolls back
 * (CloudFormation `RetainExceptOnCreate`): a failed first deploy then leaves nothing that blocks the retry.
 */
export const STATEFUL_REMOVAL_POLICY = RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE;

export interface SigningKeyProps {
  /** Where the private key lives: a KMS key, or a Secrets Manager seed. */
  readonly backend: CaKeyBackend;
  /** What the key signs, for descriptions: `CA`, `access token`. */
  readonly purpose: string;
  /** Prefix of the environment variables lambda/shared/signer.ts reads: `<prefix>_BACKEND`, `<prefix>_ARN`. */
  readonly environmentPrefix: string;
  /** Why the secret backend does not rotate (cdk-nag SMG4). */
  readonly noRotationReason: string;
}

/**
 * An Ed25519 private key: by default a KMS key (ECC_NIST_EDWARDS25519, SIGN_VERIFY) that never
 * leaves KMS; or, where KMS lacks Ed25519, a Secrets Manager secret whose generated value seeds
 * the key (see src/pki/secret-signer.ts). Retained when the stack goes away (not when its create rolls back).
 */
export class SigningKey extends Construct {
  readonly backend: CaKeyBackend;
  /** ARN of the KMS key or of the secret. */
  readonly arn: string;
  private readonly environmentPrefix: string;

  constructor(scope: Construct, id: string, props: SigningKeyProps) {
    super(scope, id);
    this.backend = props.backend;
    this.environmentPrefix = props.environmentPrefix;
    if (props.backend === 'kms') {
      const key = new Key(this, 'Key', {
        keySpec: KeySpec.ECC_NIST_EDWARDS25519,
        keyUsage: KeyUsage.SIGN_VERIFY,
        description: `Nebula gateway ${props.purpose} signing key (Ed25519)`,
        removalPolicy: STATEFUL_REMOVAL_POLICY,
      });
      // Nobody creates grants on a signing key except AWS services acting for a resource.
      key.addToResourcePolicy(
        new PolicyStatement({
          sid: 'GrantsOnlyForAwsServices',
          effect: Effect.DENY,
          principals: [new AnyPrincipal()],
          actions: ['kms:CreateGrant'],
          resources: ['*'],
          conditions: { BoolIfExists: { 'kms:GrantIsForAWSResource': 'false', 'aws:PrincipalIsAWSService': 'false' } },
        }),
      );
      this.arn = key.keyArn;
      return;
    }
    const secret = new Secret(this, 'Secret', {
      description: `Nebula gateway ${props.purpose} signing key seed (Ed25519); read only by the functions that sign with it`,
      generateSecretString: { passwordLength: 64, excludePunctuation: true },
      removalPolicy: STATEFUL_REMOVAL_POLICY,
    });
    Validations.of(secret).acknowledge({ id: 'AwsSolutions-SMG4', reason: props.noRotationReason });
    this.arn = secret.secretArn;
  }

  /** Environment variables src/pki signers are built from (lambda/shared/signer.ts). */
  get environment(): Record<string, string> {
    return { [`${this.environmentPrefix}_BACKEND`]: this.backend, [`${this.environmentPrefix}_ARN`]: this.arn };
  }

  /** Lets `grantee` sign with the key and read its public key; nothing else is granted. */
  grantSign(grantee: IGrantable): void {
    grantee.grantPrincipal.addToPrincipalPolicy(
      this.backend === 'kms'
        ? new PolicyStatement({ actions: ['kms:Sign', 'kms:GetPublicKey'], resources: [this.arn] })
        : new PolicyStatement({ actions: ['secretsmanager:GetSecretValue'], resources: [this.arn] }),
    );
  }

  /**
   * Lets `grantee` learn the public key. With KMS that is kms:GetPublicKey alone; a secret holds
   * only the seed, so reading the public key there means reading the private key too.
   */
  grantPublicKey(grantee: IGrantable): void {
    if (this.backend === 'secret') {
      this.grantSign(grantee);
      return;
    }
    grantee.grantPrincipal.addToPrincipalPolicy(new PolicyStatement({ actions: ['kms:GetPublicKey'], resources: [this.arn] }));
  }
}

export interface CaKeyProps {
  /** Where the private key lives: a KMS key, or a Secrets Manager seed. */
  readonly backend: CaKeyBackend;
}

/** The CA's key: losing it means re-enrolling every host. Environment `CA_KEY_BACKEND`/`CA_KEY_ARN`. */
export class CaKey extends SigningKey {
  constructor(scope: Construct, id: string, props: CaKeyProps) {
    super(scope, id, {
      backend: props.backend,
      purpose: 'CA',
      environmentPrefix: 'CA_KEY',
      noRotationReason: 'A CA key cannot rotate in place: every host certificate chains to it. CA rotation is a new CA added to the bundle.',
    });
  }
}

/**
 * The key that signs the proxies' access tokens (`POST /v1/access-tokens`): not the CA's, so a
 * token minter can never sign certificates. Environment `TOKEN_KEY_BACKEND`/`TOKEN_KEY_ARN`.
 */
export class AccessTokenKey extends SigningKey {
  constructor(scope: Construct, id: string, props: CaKeyProps) {
    super(scope, id, {
      backend: props.backend,
      purpose: 'access token',
      environmentPrefix: 'TOKEN_KEY',
      noRotationReason: 'The proxies read the token public key when they start; rotating it in place would reject every token until they restart.',
    });
  }
}
