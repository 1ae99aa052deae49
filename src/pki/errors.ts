/**
 * Why a PKI operation failed. Callers branch on `code`; `message` is for people and, where
 * nebula has a message for the same failure, is nebula 1.6.1's text.
 */
export type PkiErrorCode =
  /** PEM text: no block, several blocks, wrong banner, bad base64, wrong key length. */
  | 'invalid-pem'
  /** Certificate bytes that are not a canonical nebula v1 certificate. */
  | 'invalid-certificate'
  /** A key of the wrong length or whose halves do not belong together. */
  | 'invalid-key'
  /** An argument to createCA/signCertificate/parse* that nebula would not accept. */
  | 'invalid-input'
  /** The signer's key is not the CA certificate's key. */
  | 'key-mismatch'
  /** A certificate used as a CA is not marked as one. */
  | 'not-ca'
  /** A CA certificate whose signature is not its own. */
  | 'not-self-signed'
  /** The CA is outside its validity period. */
  | 'ca-expired'
  /** The certificate's fingerprint is on the blocklist. */
  | 'blocked'
  /** A certificate without an issuer was given to a CA pool. */
  | 'no-issuer'
  /** No CA in the pool has the certificate's issuer fingerprint. */
  | 'unknown-ca'
  /** The certificate is outside its validity period. */
  | 'expired'
  /** The signature does not verify under the issuer's key. */
  | 'signature-mismatch'
  /** The certificate is valid longer than, or before, its CA. */
  | 'outside-ca-validity'
  /** A group the CA does not list. */
  | 'group-not-in-ca'
  /** An IP outside the CA's IPs. */
  | 'ip-outside-ca'
  /** A subnet outside the CA's subnets. */
  | 'subnet-outside-ca';

/** The only error src/pki throws; decoders and parsers throw nothing else, whatever the input. */
export class PkiError extends Error {
  override readonly name = 'PkiError';

  constructor(
    readonly code: PkiErrorCode,
    message: string,
  ) {
    super(message);
  }
}
