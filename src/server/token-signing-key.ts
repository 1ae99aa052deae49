import { chmod, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { encodeEd25519PrivateKeyPem, generateEd25519KeyPair, LocalSigner, parseEd25519PrivateKeyPem } from '../api';

export interface TokenSigningKey {
  readonly signer: LocalSigner;
  readonly path: string;
  readonly created: boolean;
}

/**
 * The key that signs the proxies' access tokens in local mode: `<dataDir>/token-signing.key`
 * (Ed25519, mode 0600), made on first start and reused. Deliberately not the CA key: a token
 * signature must never be usable as a certificate signature, and the two keys rotate apart.
 */
export async function loadOrCreateTokenSigningKey(dataDir: string, caPublicKey: Uint8Array): Promise<TokenSigningKey> {
  const path = join(dataDir, 'token-signing.key');
  let text: string | undefined;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  if (text !== undefined) {
    const signer = new LocalSigner(parseEd25519PrivateKeyPem(text));
    if (Buffer.from(await signer.publicKey()).equals(Buffer.from(caPublicKey))) {
      throw new Error(`${path} holds the CA key; the access token signing key must be a key of its own (remove the file to make one)`);
    }
    await chmod(path, 0o600);
    return { signer, path, created: false };
  }
  const keys = generateEd25519KeyPair();
  await writeFile(path, encodeEd25519PrivateKeyPem(keys.privateKey), { mode: 0o600, flag: 'wx' });
  return { signer: new LocalSigner(keys.privateKey), path, created: true };
}
