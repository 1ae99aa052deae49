/**
 * src/pki: nebula v1 certificates and keys (encode, decode, sign, verify, PEM, fingerprints).
 * Imports node:crypto only.
 */
export { type PkiErrorCode, PkiError } from './errors';
export {
  CERTIFICATE_BANNER,
  decodePem,
  decodePemBlocks,
  ED25519_PRIVATE_KEY_BANNER,
  ED25519_PUBLIC_KEY_BANNER,
  encodePem,
  type PemBlock,
  X25519_PRIVATE_KEY_BANNER,
  X25519_PUBLIC_KEY_BANNER,
} from './pem';
export { formatIpv4Prefix, type Ipv4Prefix, ipv4Network, ipv4PrefixWithinAny, parseIpv4Prefix } from './ipv4';
export {
  type Ed25519KeyPair,
  encodeEd25519PrivateKeyPem,
  encodeEd25519PublicKeyPem,
  encodeX25519PrivateKeyPem,
  encodeX25519PublicKeyPem,
  generateEd25519KeyPair,
  generateX25519KeyPair,
  parseEd25519PrivateKeyPem,
  parseEd25519PublicKeyPem,
  parseX25519PrivateKeyPem,
  parseX25519PublicKeyPem,
  x25519PublicKeyFromPrivate,
  type X25519KeyPair,
} from './keys';
export type { Signer } from './signer';
export { LocalSigner } from './local-signer';
export { type CertificateDetails, NebulaCertificate, parseCertificateBundle } from './certificate';
export { checkRootConstraints } from './constraints';
export { CAPool, type VerifyOptions } from './ca-pool';
export {
  createCA,
  type CreateCAOptions,
  type Ipv4PrefixInput,
  signCertificate,
  type SignCertificateOptions,
  type Validity,
} from './issue';
export { parseGoDuration } from './duration';
export { type CertificateJson, certificateToJson, formatCertificateJson, formatCertificateText } from './print';
