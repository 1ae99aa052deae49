import { chmod, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  createCA,
  encodeEd25519PrivateKeyPem,
  generateEd25519KeyPair,
  LocalSigner,
  NebulaCertificate,
  parseEd25519PrivateKeyPem,
} from '../api';

export interface LocalCa {
  readonly signer: LocalSigner;
  readonly certificate: NebulaCertificate;
  readonly keyPath: string;
  readonly certPath: string;
  readonly created: boolean;
}

/** Local mode's CA lives ten years; host certificates are short-lived and renewed. */
const CA_LIFETIME_MS = 10 * 365 * 24 * 3600 * 1000;

/**
 * The local CA of `gateway serve`: `<dataDir>/ca.key` (Ed25519, mode 0600) and `ca.crt`, made on
 * first start and reused afterwards. The key never leaves this machine.
 */
export async function loadOrCreateLocalCa(dataDir: string, name: string, now: Date): Promise<LocalCa> {
  const keyPath = join(dataDir, 'ca.key');
  const certPath = join(dataDir, 'ca.crt');
  const existingKey = await readIfExists(keyPath);
  if (existingKey !== undefined) {
    const certText = await readIfExists(certPath);
    if (certText === undefined) throw new Error(`${keyPath} exists but ${certPath} does not; restore it or remove both`);
    const signer = new LocalSigner(parseEd25519PrivateKeyPem(existingKey));
    const certificate = NebulaCertificate.fromPem(certText);
    if (!Buffer.from(certificate.details.publicKey).equals(Buffer.from(await signer.publicKey()))) {
      throw new Error(`${certPath} is not the certificate of the key in ${keyPath}`);
    }
    await chmod(keyPath, 0o600);
    return { signer, certificate, keyPath, certPath, created: false };
  }
  const keys = generateEd25519KeyPair();
  const signer = new LocalSigner(keys.privateKey);
  const certificate = await createCA({ signer, name, notBefore: now, notAfter: new Date(now.getTime() + CA_LIFETIME_MS), now });
  await writeFile(keyPath, encodeEd25519PrivateKeyPem(keys.privateKey), { mode: 0o600, flag: 'wx' });
  await writeFile(certPath, certificate.toPem(), { mode: 0o644 });
  return { signer, certificate, keyPath, certPath, created: true };
}

async function readIfExists(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}
