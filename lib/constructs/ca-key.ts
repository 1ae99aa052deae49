import { RemovalPolicy, Validations } from 'aws-cdk-lib/core';
import { type IGrantable, PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { Key, KeySpec, KeyUsage } from 'aws-cdk-lib/aws-kms';
import { Secret } from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';

export type CaKeyBackend = 'kms' | 'secret';

/**
 * The CA's Ed25519 private key: by default a KMS key (ECC_NIST_EDWARDS25519, SIGN_VERIFY) that
 * never leaves KMS; or, where KMS lacks Ed25519, a Secrets Manager secret whose generated value
 * seeds the key (see src/pki/secret-signer.ts). Both are retained when the stack goes away:
 * losing the CA key means re-enrolling every host.
 */
export class CaKey extends Construct {
  readonly backend: CaKeyBackend;
  /** ARN of the KMS key or of the secret. */
  readonly arn: string;

  constructor(scope: Construct, id: string, props: { backend: CaKeyBackend }) {
    super(scope, id);
    this.backend = props.backend;
    if (props.backend === 'kms') {
      const key = new Key(this, 'Key', {
        keySpec: KeySpec.ECC_NIST_EDWARDS25519,
        keyUsage: KeyUsage.SIGN_VERIFY,
        description: 'Nebula gateway CA signing key (Ed25519)',
        removalPolicy: RemovalPolicy.RETAIN,
      });
      this.arn = key.keyArn;
      return;
    }
    const secret = new Secret(this, 'Secret', {
      description: 'Nebula gateway CA signing key seed (Ed25519); read only by the signing functions',
      generateSecretString: { passwordLength: 64, excludePunctuation: true },
      removalPolicy: RemovalPolicy.RETAIN,
    });
    Validations.of(secret).acknowledge({
      id: 'AwsSolutions-SMG4',
      reason: 'A CA key cannot rotate in place: every host certificate chains to it. CA rotation is a new CA added to the bundle.',
    });
    this.arn = secret.secretArn;
  }

  /** Environment variables src/pki signers are built from (lambda/shared/signer.ts). */
  get environment(): Record<string, string> {
    return { CA_KEY_BACKEND: this.backend, CA_KEY_ARN: this.arn };
  }

  /** Lets `grantee` sign with the CA key and read its public key; nothing else is granted. */
  grantSign(grantee: IGrantable): void {
    grantee.grantPrincipal.addToPrincipalPolicy(
      this.backend === 'kms'
        ? new PolicyStatement({ actions: ['kms:Sign', 'kms:GetPublicKey'], resources: [this.arn] })
        : new PolicyStatement({ actions: ['secretsmanager:GetSecretValue'], resources: [this.arn] }),
    );
  }
}
