import { createHash, createPrivateKey, type KeyObject, X509Certificate } from 'node:crypto';

/**
 * The proxy's TLS certificate and key, and the one rule for accepting a pair (at start and at
 * every rotation): the key is a private key, the chain's first certificate is its public half,
 * is valid now and covers `<port>--<hostId>.<domain>` (a `*.<domain>` wildcard or an exact name).
 */

/** PEM certificate chain (leaf first) and PEM private key. */
export interface TlsPair {
  readonly cert: string;
  readonly key: string;
}

/** What may be said about an accepted pair (never the key). */
export interface TlsPairInfo {
  /** SHA-256 fingerprint of the leaf certificate, as colon-separated hex (openssl's spelling). */
  readonly fingerprint: string;
  readonly notAfter: Date;
}

export type TlsPairProblem = 'unreadable-certificate' | 'unreadable-key' | 'key-mismatch' | 'not-yet-valid' | 'expired' | 'wrong-domain';

/** A pair that must not be served; the message names what is wrong and never holds key material. */
export class TlsPairError extends Error {
  constructor(
    readonly problem: TlsPairProblem,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'TlsPairError';
  }
}

/** The host name a pair must cover: any `<port>--<hostId>` label works the same under a wildcard. */
function probeName(domain: string): string {
  return `443--probe.${domain}`;
}

/** Checks `pair` for `domain` at `now`; returns what may be logged about it, or throws TlsPairError. */
export function checkTlsPair(pair: TlsPair, domain: string, now: Date): TlsPairInfo {
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(pair.cert);
  } catch (err) {
    throw new TlsPairError('unreadable-certificate', 'the certificate is not a PEM X.509 certificate', { cause: err });
  }
  let key: KeyObject;
  try {
    key = createPrivateKey(pair.key);
  } catch (err) {
    // The cause is dropped on purpose: OpenSSL's message may quote the input.
    throw new TlsPairError('unreadable-key', 'the private key is not a PEM private key', { cause: err instanceof Error ? new Error(err.name) : undefined });
  }
  const fingerprint = leaf.fingerprint256;
  if (!leaf.checkPrivateKey(key)) throw new TlsPairError('key-mismatch', `the private key does not belong to certificate ${fingerprint}`);
  const notBefore = new Date(leaf.validFrom);
  const notAfter = new Date(leaf.validTo);
  if (now < notBefore) throw new TlsPairError('not-yet-valid', `certificate ${fingerprint} is not valid before ${notBefore.toISOString()}`);
  if (now >= notAfter) throw new TlsPairError('expired', `certificate ${fingerprint} expired at ${notAfter.toISOString()}`);
  if (leaf.checkHost(probeName(domain)) === undefined) {
    throw new TlsPairError('wrong-domain', `certificate ${fingerprint} does not cover *.${domain} (it names ${leaf.subjectAltName ?? leaf.subject})`);
  }
  return { fingerprint, notAfter };
}

/** A digest of the pair's bytes, to tell a changed source from an unchanged one (never logged). */
export function tlsPairDigest(pair: TlsPair): string {
  return createHash('sha256').update(pair.cert).update('\0').update(pair.key).digest('hex');
}
