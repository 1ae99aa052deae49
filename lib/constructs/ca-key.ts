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

/** An Ed25519 key resource: where it lives and its ARN. */
interface KeyResource {
  readonly backend: CaKeyBackend;
  readonly arn: string;
}

/**
 * Makes the key resource as construct `id` of `scope`: a KMS key (ECC_NIST_EDWARDS25519,
 * SIGN_VERIFY) that never leaves KMS, or, where KMS lacks Ed25519, a Secrets Manager secret whose
 * generated value seeds the key (see src/pki/secret-signer.ts). Retained when the stack goes away.
 */
function makeKeyResource(scope: Construct, id: string, props: Omit<SigningKeyProps, 'environmentPrefix'>): KeyResource {
  if (props.backend === 'kms') {
    const key = new Key(scope, id, {
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
    return { backend: 'kms', arn: key.keyArn };
  }
  const secret = new Secret(scope, id, {
    description: `Nebula gateway ${props.purpose} signing key seed (Ed25519); read only by the functions that sign with it`,
    generateSecretString: { passwordLength: 64, excludePunctuation: true },
    removalPolicy: STATEFUL_REMOVAL_POLICY,
  });
  Validations.of(secret).acknowledge({ id: 'AwsSolutions-SMG4', reason: props.noRotationReason });
  return { backend: 'secret', arn: secret.secretArn };
}

/** Lets `grantee` sign with `key` and read its public key; nothing else is granted. */
function grantSignOn(key: KeyResource, grantee: IGrantable): void {
  grantee.grantPrincipal.addToPrincipalPolicy(
    key.backend === 'kms'
      ? new PolicyStatement({ actions: ['kms:Sign', 'kms:GetPublicKey'], resources: [key.arn] })
      : new PolicyStatement({ actions: ['secretsmanager:GetSecretValue'], resources: [key.arn] }),
  );
}

/** Environment variables src/pki signers are built from (lambda/shared/signer.ts): `<prefix>_BACKEND`, `<prefix>_ARN`. */
function keyEnvironment(key: KeyResource, prefix: string): Record<string, string> {
  return { [`${prefix}_BACKEND`]: key.backend, [`${prefix}_ARN`]: key.arn };
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

  /** @param keyId the key resource's construct id (its logical ID derives from it) @default 'Key' or 'Secret' by backend */
  constructor(scope: Construct, id: string, props: SigningKeyProps, keyId?: string) {
    super(scope, id);
    this.environmentPrefix = props.environmentPrefix;
    const key = makeKeyResource(this, keyId ?? (props.backend === 'kms' ? 'Key' : 'Secret'), props);
    this.backend = key.backend;
    this.arn = key.arn;
  }

  /** Environment variables src/pki signers are built from (lambda/shared/signer.ts). */
  get environment(): Record<string, string> {
    return keyEnvironment(this, this.environmentPrefix);
  }

  /** Lets `grantee` sign with the key and read its public key; nothing else is granted. */
  grantSign(grantee: IGrantable): void {
    grantSignOn(this, grantee);
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

/** The two places a CA key can be: a rotation moves the network from one to the other. */
export type CaKeySlot = 'a' | 'b';

export interface CaKeyProps {
  /** Where the private key lives: a KMS key, or a Secrets Manager seed. */
  readonly backend: CaKeyBackend;
  /**
   * Which key slot holds the current CA key. Slot `a` is the key the network was created with;
   * after a CA rotation ends, the slot of the next key becomes current (docs/ca-rotation.md).
   * @default 'a'
   */
  readonly slot?: CaKeySlot;
  /**
   * Also make the next CA key, in the other slot (same backend), for a CA rotation: whatever signs
   * certificates may sign with it too (`NEXT_CA_KEY_BACKEND`/`NEXT_CA_KEY_ARN`), and the API starts
   * a rotation with it. @default false
   */
  readonly nextKey?: boolean;
}

/** The construct id of each slot's key resource: slot `a` keeps the id the first CA key always had. */
const SLOT_KEY_IDS: Record<CaKeyBackend, Record<CaKeySlot, string>> = { kms: { a: 'Key', b: 'KeyB' }, secret: { a: 'Secret', b: 'SecretB' } };

/**
 * The CA's key: losing it means re-enrolling every host. Environment `CA_KEY_BACKEND`/`CA_KEY_ARN`,
 * and with a next key `NEXT_CA_KEY_BACKEND`/`NEXT_CA_KEY_ARN`. Each slot's key resource keeps its
 * construct id whichever role it has, so rolling the slots after a rotation replaces nothing.
 */
export class CaKey extends SigningKey {
  readonly slot: CaKeySlot;
  /** The next CA key (the other slot), when `nextKey` is set. */
  readonly next?: KeyResource;

  constructor(scope: Construct, id: string, props: CaKeyProps) {
    const slot = props.slot ?? 'a';
    const keyProps = {
      backend: props.backend,
      purpose: 'CA',
      environmentPrefix: 'CA_KEY',
      noRotationReason: 'A CA key cannot rotate in place: every host certificate chains to it. CA rotation is a new CA (the next key) added to the bundle: docs/ca-rotation.md.',
    };
    super(scope, id, keyProps, SLOT_KEY_IDS[props.backend][slot]);
    this.slot = slot;
    if (props.nextKey) this.next = makeKeyResource(this, SLOT_KEY_IDS[props.backend][slot === 'a' ? 'b' : 'a'], { ...keyProps, purpose: 'next CA' });
  }

  /** The current key's variables, and the next key's when there is one. */
  override get environment(): Record<string, string> {
    return { ...super.environment, ...this.nextKeyEnvironment };
  }

  /** `NEXT_CA_KEY_BACKEND`/`NEXT_CA_KEY_ARN`, or nothing without a next key. */
  get nextKeyEnvironment(): Record<string, string> {
    return this.next ? keyEnvironment(this.next, 'NEXT_CA_KEY') : {};
  }

  /** Lets `grantee` sign with the current key and the next one (it signs certificates through a rotation). */
  override grantSign(grantee: IGrantable): void {
    super.grantSign(grantee);
    this.grantNextKeySign(grantee);
  }

  /** Lets `grantee` sign with the next key alone (the admin function self-signs the new CA with it); nothing without one. */
  grantNextKeySign(grantee: IGrantable): void {
    if (this.next) grantSignOn(this.next, grantee);
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
