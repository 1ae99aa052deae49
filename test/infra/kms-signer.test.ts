import { generateKeyPairSync, sign as nodeSign, verify as nodeVerify, createPublicKey, type KeyObject } from 'node:crypto';
import { GetPublicKeyCommand, KMSClient, SignCommand } from '@aws-sdk/client-kms';
import { mockClient } from 'aws-sdk-client-mock';
import nacl from 'tweetnacl';
import { KmsSigner, KmsSignerError, ed25519PublicKeyFromSpki } from '../../src/pki/kms-signer';

// KMS has no local implementation (DynamoDB does; KMS does not), so KMS is mocked with
// aws-sdk-client-mock. The mock signs for real with a local Ed25519 key, so the test checks the
// request KmsSigner sends and that what comes back verifies as pure Ed25519.
const KEY_ID = 'arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab';

describe('KmsSigner', () => {
  const kms = mockClient(KMSClient);
  let privateKey: KeyObject;
  let spki: Buffer;

  beforeEach(() => {
    kms.reset();
    const pair = generateKeyPairSync('ed25519');
    privateKey = pair.privateKey;
    spki = pair.publicKey.export({ format: 'der', type: 'spki' });
    kms.on(GetPublicKeyCommand).resolves({ KeyId: KEY_ID, PublicKey: spki, KeySpec: 'ECC_NIST_EDWARDS25519', KeyUsage: 'SIGN_VERIFY' });
    kms.on(SignCommand).callsFake((input: { Message: Uint8Array }) => ({
      KeyId: KEY_ID,
      SigningAlgorithm: 'ED25519_SHA_512',
      Signature: nodeSign(null, Buffer.from(input.Message), privateKey),
    }));
  });

  it('signs the raw message with ED25519_SHA_512 and the signature verifies (node:crypto and tweetnacl)', async () => {
    const signer = new KmsSigner(KEY_ID, new KMSClient({}));
    const message = Buffer.from('nebula certificate details, marshalled');
    const signature = await signer.sign(message);

    const calls = kms.commandCalls(SignCommand);
    expect(calls).toHaveLength(1);
    expect(calls[0].args[0].input).toEqual({
      KeyId: KEY_ID,
      Message: message,
      MessageType: 'RAW',
      SigningAlgorithm: 'ED25519_SHA_512',
    });
    const publicKey = await signer.publicKey();
    expect(publicKey).toHaveLength(32);
    expect(nodeVerify(null, message, createPublicKey({ key: spki, format: 'der', type: 'spki' }), signature)).toBe(true);
    expect(nacl.sign.detached.verify(message, signature, publicKey)).toBe(true);
    expect(nacl.sign.detached.verify(Buffer.from('other message'), signature, publicKey)).toBe(false);
  });

  it('returns the last 32 bytes of the SPKI as the public key, and asks KMS only once', async () => {
    const signer = new KmsSigner(KEY_ID, new KMSClient({}));
    const [a, b] = await Promise.all([signer.publicKey(), signer.publicKey()]);
    expect(Buffer.from(a)).toEqual(spki.subarray(12));
    expect(b).toBe(a);
    expect(kms.commandCalls(GetPublicKeyCommand)).toHaveLength(1);
    expect(kms.commandCalls(GetPublicKeyCommand)[0].args[0].input).toEqual({ KeyId: KEY_ID });
  });

  it('refuses a key that is not an Ed25519 signing key', async () => {
    kms.on(GetPublicKeyCommand).resolves({ KeyId: KEY_ID, PublicKey: spki, KeySpec: 'ECC_NIST_P256', KeyUsage: 'SIGN_VERIFY' });
    await expect(new KmsSigner(KEY_ID, new KMSClient({})).publicKey()).rejects.toThrow(/ECC_NIST_P256.*ECC_NIST_EDWARDS25519/);
  });

  it('refuses messages over KMS raw-message limit without calling KMS', async () => {
    const signer = new KmsSigner(KEY_ID, new KMSClient({}));
    await expect(signer.sign(new Uint8Array(4097))).rejects.toThrow(KmsSignerError);
    expect(kms.commandCalls(SignCommand)).toHaveLength(0);
  });

  it('refuses a signature of the wrong length', async () => {
    kms.on(SignCommand).resolves({ Signature: new Uint8Array(71) });
    await expect(new KmsSigner(KEY_ID, new KMSClient({})).sign(Buffer.from('x'))).rejects.toThrow(/71-byte signature/);
  });

  it('checks the SPKI algorithm identifier and length', () => {
    const p256 = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'der', type: 'spki' });
    expect(() => ed25519PublicKeyFromSpki(p256)).toThrow(KmsSignerError);
    const wrongOid = Buffer.from(spki);
    wrongOid[8] = 0x6e; // 1.3.101.110 is X25519, not Ed25519
    expect(() => ed25519PublicKeyFromSpki(wrongOid)).toThrow(/algorithm identifier/);
    expect(() => ed25519PublicKeyFromSpki(undefined)).toThrow(/got 0 bytes/);
  });
});
