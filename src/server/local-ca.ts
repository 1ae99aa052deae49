import { chmod, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  createCA,
  encodeEd25519PrivateKeyPem,
  generateEd25519KeyPair,
  LocalSigner,
  NebulaCertificate,
  parseCertificateBundle,
  parseEd25519PrivateKeyPem,
  type PreparableSigner,
} from '../api';

export interface LocalCa {
  readonly signer: LocalSigner;
  /** The next CA key, `<dataDir>/ca-next.key` (0600), made on first use: when a CA rotation starts. */
  readonly nextSigner: PreparableSigner;
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
    return { signer, nextSigner: new NextKeyFile(join(dataDir, NEXT_KEY_FILE)), certificate, keyPath, certPath, created: false };
  }
  const keys = generateEd25519KeyPair();
  const signer = new LocalSigner(keys.privateKey);
  const certificate = await createCA({ signer, name, notBefore: now, notAfter: new Date(now.getTime() + CA_LIFETIME_MS), now });
  await writeFile(keyPath, encodeEd25519PrivateKeyPem(keys.privateKey), { mode: 0o600, flag: 'wx' });
  await writeFile(certPath, certificate.toPem(), { mode: 0o644 });
  return { signer, nextSigner: new NextKeyFile(join(dataDir, NEXT_KEY_FILE)), certificate, keyPath, certPath, created: true };
}

async function readIfExists(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

const NEXT_KEY_FILE = 'ca-next.key';

/**
 * The next CA key as a file beside `ca.key`: made (Ed25519, 0600, never overwritten) by
 * `prepare()`, which starting a CA rotation calls, so a gateway that never rotates never makes
 * one; until then it has no public key (the API then signs with `ca.key` alone).
 */
class NextKeyFile implements PreparableSigner {
  private loaded?: Promise<LocalSigner>;

  constructor(private readonly path: string) {}

  async prepare(): Promise<void> {
    if ((await readIfExists(this.path)) !== undefined) return;
    const keys = generateEd25519KeyPair();
    try {
      await writeFile(this.path, encodeEd25519PrivateKeyPem(keys.privateKey), { mode: 0o600, flag: 'wx' });
    } catch (err) {
      // Another process made it first: that one is used.
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
  }

  async publicKey(): Promise<Uint8Array> {
    return (await this.signer()).publicKey();
  }

  async sign(message: Uint8Array): Promise<Uint8Array> {
    return (await this.signer()).sign(message);
  }

  private signer(): Promise<LocalSigner> {
    this.loaded ??= this.load().catch((err: unknown) => {
      this.loaded = undefined;
      throw err;
    });
    return this.loaded;
  }

  private async load(): Promise<LocalSigner> {
    const existing = await readIfExists(this.path);
    if (existing === undefined) throw new Error(`${this.path} does not exist yet: a CA rotation makes it`);
    await chmod(this.path, 0o600);
    return LocalSigner.fromPem(existing);
  }
}

/**
 * Rolls the key slots after a CA rotation retired the CA of `ca.key`: when the network's bundle
 * no longer holds `ca.crt` but holds the CA of `ca-next.key`, the old pair is kept as
 * `ca-retired-<fingerprint prefix>.key/.crt`, and the next key becomes `ca.key` with its CA
 * certificate as `ca.crt`. Returns whether it rolled. Run before loadOrCreateLocalCa.
 */
export async function rollLocalCaKeys(dataDir: string, caBundle: string | undefined): Promise<boolean> {
  if (caBundle === undefined) return false;
  const keyPath = join(dataDir, 'ca.key');
  const certPath = join(dataDir, 'ca.crt');
  const nextPath = join(dataDir, NEXT_KEY_FILE);
  const [certText, nextText] = await Promise.all([readIfExists(certPath), readIfExists(nextPath)]);
  if (certText === undefined || nextText === undefined || caBundle.includes(certText.trim())) return false;
  const nextKey = Buffer.from(await LocalSigner.fromPem(nextText).publicKey());
  const nextCa = parseCertificateBundle(caBundle).find((ca) => nextKey.equals(Buffer.from(ca.details.publicKey)));
  if (!nextCa) return false;
  const retired = `ca-retired-${NebulaCertificate.fromPem(certText).fingerprint().slice(0, 16)}`;
  await rename(keyPath, join(dataDir, `${retired}.key`));
  await rename(certPath, join(dataDir, `${retired}.crt`));
  await rename(nextPath, keyPath);
  await writeFile(certPath, nextCa.toPem(), { mode: 0o644 });
  return true;
}
