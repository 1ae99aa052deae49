import type { KeyObject } from 'node:crypto';
import { type NebulaCertificate, parseCertificateBundle } from './certificate';
import { checkRootConstraints } from './constraints';
import { PkiError } from './errors';
import { ed25519PublicKeyObject } from './keys';

export interface VerifyOptions {
  /** The time to verify at; now by default. */
  now?: Date;
  /** Fingerprints (lowercase hex) of certificates that must be refused (nebula's pki.blocklist). */
  blocklist?: ReadonlySet<string> | readonly string[];
}

interface TrustedCA {
  readonly certificate: NebulaCertificate;
  readonly key: KeyObject;
}

/** The CAs a host trusts (nebula's NebulaCAPool), keyed by fingerprint. */
export class CAPool {
  readonly #cas = new Map<string, TrustedCA>();

  /**
   * From a CA bundle: every block must be a self-signed CA certificate. Expired CAs are kept
   * (the nebula daemon keeps them and refuses what they issued); see `expired()`.
   */
  static fromPem(bundle: string): CAPool {
    return CAPool.fromCertificates(parseCertificateBundle(bundle));
  }

  static fromCertificates(certificates: readonly NebulaCertificate[]): CAPool {
    const pool = new CAPool();
    for (const certificate of certificates) pool.add(certificate);
    return pool;
  }

  /** Adds a CA, with nebula's AddCACertificate messages for what is not one. */
  add(certificate: NebulaCertificate): void {
    const { name, isCA, publicKey } = certificate.details;
    if (!isCA) throw new PkiError('not-ca', `${name}: certificate is not a CA`);
    const key = ed25519PublicKeyObject(publicKey);
    if (!certificate.checkSignature(key)) throw new PkiError('not-self-signed', `${name}: certificate is not self-signed`);
    this.#cas.set(certificate.fingerprint(), { certificate, key });
  }

  get certificates(): NebulaCertificate[] {
    return [...this.#cas.values()].map((ca) => ca.certificate);
  }

  get fingerprints(): string[] {
    return [...this.#cas.keys()];
  }

  /** The CAs outside their validity at `at` (`nebula-cert verify` refuses a bundle holding one). */
  expired(at: Date = new Date()): NebulaCertificate[] {
    return this.certificates.filter((ca) => ca.expired(at));
  }

  /** The CA that issued `certificate` (nebula's GetCAForCert). */
  caFor(certificate: NebulaCertificate): NebulaCertificate {
    return this.#trustedFor(certificate).certificate;
  }

  /**
   * nebula 1.6.1's Verify, rule for rule and in its order, each failure a PkiError with nebula's
   * message: blocklist, issuer known, CA valid, certificate valid, signature, CA constraints.
   */
  verify(certificate: NebulaCertificate, options: VerifyOptions = {}): void {
    const now = options.now ?? new Date();
    const blocklist = options.blocklist;
    if (blocklist && isBlocked(certificate.fingerprint(), blocklist)) {
      throw new PkiError('blocked', 'certificate has been blocked');
    }
    const ca = this.#trustedFor(certificate);
    if (ca.certificate.expired(now)) throw new PkiError('ca-expired', 'root certificate is expired');
    if (certificate.expired(now)) throw new PkiError('expired', 'certificate is expired');
    if (!certificate.checkSignature(ca.key)) throw new PkiError('signature-mismatch', 'certificate signature did not match');
    checkRootConstraints(certificate.details, ca.certificate.details);
  }

  #trustedFor(certificate: NebulaCertificate): TrustedCA {
    const issuer = certificate.details.issuer;
    if (issuer === '') throw new PkiError('no-issuer', 'no issuer in certificate');
    const ca = this.#cas.get(issuer);
    if (!ca) throw new PkiError('unknown-ca', 'could not find ca for the certificate');
    return ca;
  }
}

function isBlocked(fingerprint: string, blocklist: ReadonlySet<string> | readonly string[]): boolean {
  return Array.isArray(blocklist) ? blocklist.includes(fingerprint) : (blocklist as ReadonlySet<string>).has(fingerprint);
}
