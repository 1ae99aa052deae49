import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import nacl from 'tweetnacl';
import { generateEd25519KeyPair } from '../../src/pki';
import { encodePem, ED25519_PRIVATE_KEY_BANNER } from '../../src/pki/pem';
import { SecretSigner, SecretSignerError, signerFromSecretString } from '../../src/pki/secret-signer';

// Secrets Manager has no local implementation here, so GetSecretValue is mocked with
// aws-sdk-client-mock; signing itself is real (node:crypto), checked with tweetnacl.
const SECRET_ARN = 'arn:aws:secretsmanager:us-east-1:111122223333:secret:NebulaGatewayCa-AbCdEf';
const GENERATED = 'Zk3q9XbT2mWcR7yPvL4nH8sJ1dF6gA0eUoIiKwQxYzBtCrVnMlEpSjDhGfTaRyU2';

describe('SecretSigner', () => {
  const sm = mockClient(SecretsManagerClient);
  beforeEach(() => sm.reset());

  it('derives one stable Ed25519 key from the generated secret string, reads the secret once, signs verifiably', async () => {
    sm.on(GetSecretValueCommand).resolves({ SecretString: GENERATED });
    const signer = new SecretSigner(SECRET_ARN, new SecretsManagerClient({}));
    const message = Buffer.from('certificate details');
    const [publicKey, signature] = await Promise.all([signer.publicKey(), signer.sign(message)]);
    expect(sm.commandCalls(GetSecretValueCommand)).toHaveLength(1);
    expect(sm.commandCalls(GetSecretValueCommand)[0].args[0].input).toEqual({ SecretId: SECRET_ARN });
    expect(nacl.sign.detached.verify(message, signature, publicKey)).toBe(true);
    expect(Buffer.from(await signerFromSecretString(GENERATED).publicKey())).toEqual(Buffer.from(publicKey));
    expect(Buffer.from(await signerFromSecretString(`${GENERATED}x`).publicKey())).not.toEqual(Buffer.from(publicKey));
  });

  it('uses an imported NEBULA ED25519 PRIVATE KEY PEM as is', async () => {
    const pair = generateEd25519KeyPair();
    sm.on(GetSecretValueCommand).resolves({ SecretString: encodePem(ED25519_PRIVATE_KEY_BANNER, pair.privateKey) });
    const signer = new SecretSigner(SECRET_ARN, new SecretsManagerClient({}));
    expect(Buffer.from(await signer.publicKey())).toEqual(Buffer.from(pair.publicKey));
    const signature = await signer.sign(Buffer.from('x'));
    expect(nacl.sign.detached.verify(Buffer.from('x'), signature, pair.publicKey)).toBe(true);
  });

  it('refuses a secret without a string value or too short to seed a key, and retries after a failure', async () => {
    sm.on(GetSecretValueCommand).resolvesOnce({ SecretBinary: new Uint8Array(3) }).resolves({ SecretString: 'short' });
    const signer = new SecretSigner(SECRET_ARN, new SecretsManagerClient({}));
    await expect(signer.publicKey()).rejects.toThrow(/has no string value/);
    await expect(signer.publicKey()).rejects.toThrow(SecretSignerError);
    expect(sm.commandCalls(GetSecretValueCommand)).toHaveLength(2);
  });
});
