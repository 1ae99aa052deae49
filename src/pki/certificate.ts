import { createHash, type KeyObject } from 'node:crypto';
import { decodeCertificate, encodeCertificate, encodeDetails, unixSeconds } from './certificate-codec';
import { PkiError } from './errors';
import { type Ipv4Prefix, ipv4ToUint32 } from './ipv4';
import { CERTIFICATE_BANNER, decodePemBlocks, encodePem } from './pem';
import { ed25519PublicKeyObject, verifyEd25519 } from './keys';

/** What a nebula v1 certificate says, field for field (nebula's NebulaCertificateDetails). */
export interface CertificateDetails {
  readonly name: string;
  /** Host addresses with their network's prefix length; nebula 1.6 uses only the first. */
  readonly ips: readonly Ipv4Prefix[];
  /** Networks the host routes for (unsafe_routes); on a CA, the subnets it may issue. */
  readonly subnets: readonly Ipv4Prefix[];
  readonly groups: readonly string[];
  /** Whole seconds: the wire format has no finer time. */
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** X25519 (host) or Ed25519 (CA) public key, 32 bytes. */
  readonly publicKey: Uint8Array;
  readonly isCA: boolean;
  /** Lowercase hex SHA-256 fingerprint of the issuing CA; '' for a CA. */
  readonly issuer: string;
}

const KEY_LENGTH = 32;
const SIGNATURE_LENGTH = 64;
const HEX_ISSUER = /^[0-9a-f]{64}$/;

/** Set by `certificateFromParts` so the constructor can skip re-encoding bytes already canonical. */
let knownDetailsBytes: Buffer | undefined;
let knownBytes: Buffer | undefined;

/**
 * A signed nebula v1 certificate. Immutable by contract (readonly types; not frozen at runtime,
 * which would cost more than encoding): the encoding and fingerprint are computed once.
 */
export class NebulaCertificate {
  readonly details: CertificateDetails;
  readonly signature: Uint8Array;
  readonly #detailsBytes: Buffer;
  #bytes: Buffer | undefined;
  #fingerprint: string | undefined;

  /** Builds a certificate from values; throws PkiError('invalid-input') for what nebula cannot encode. */
  constructor(details: CertificateDetails, signature: Uint8Array) {
    if (knownDetailsBytes) {
      this.details = details;
      this.signature = signature;
      this.#detailsBytes = knownDetailsBytes;
      this.#bytes = knownBytes;
      knownDetailsBytes = knownBytes = undefined;
      return;
    }
    this.details = normalizeDetails(details);
    if (!(signature instanceof Uint8Array) || signature.length !== SIGNATURE_LENGTH) {
      throw new PkiError('invalid-input', `signature must be ${SIGNATURE_LENGTH} bytes`);
    }
    this.signature = new Uint8Array(signature);
    this.#detailsBytes = encodeDetails(this.details);
  }

  /** Decodes the protobuf bytes of a certificate (strict and canonical; see certificate-codec). */
  static unmarshal(bytes: Uint8Array): NebulaCertificate {
    const decoded = decodeCertificate(bytes);
    return certificateFromParts(decoded.details, new Uint8Array(decoded.signature), Buffer.from(decoded.detailsBytes), Buffer.from(bytes));
  }

  /** Decodes the single `NEBULA CERTIFICATE` PEM block of `text`. */
  static fromPem(text: string): NebulaCertificate {
    const certificates = parseCertificateBundle(text);
    if (certificates.length !== 1) throw new PkiError('invalid-pem', `expected one certificate, found ${certificates.length}`);
    return certificates[0];
  }

  /** The canonical protobuf encoding (a fresh copy). */
  marshal(): Buffer {
    return Buffer.from(this.bytes());
  }

  /** The details message: the exact bytes the signature covers (a fresh copy). */
  marshalDetails(): Buffer {
    return Buffer.from(this.#detailsBytes);
  }

  toPem(): string {
    return encodePem(CERTIFICATE_BANNER, this.bytes());
  }

  /** Lowercase hex SHA-256 of the encoding: what nebula's blocklist, `issuer` and `ca_sha` use. */
  fingerprint(): string {
    this.#fingerprint ??= createHash('sha256').update(this.bytes()).digest('hex');
    return this.#fingerprint;
  }

  get expiresAt(): Date {
    return this.details.notAfter;
  }

  /** nebula's Expired(): not yet valid, or past notAfter. Valid at both ends inclusive. */
  expired(at: Date): boolean {
    const t = at.getTime();
    return this.details.notBefore.getTime() > t || this.details.notAfter.getTime() < t;
  }

  /** Whether the signature verifies under an Ed25519 public key (raw 32 bytes or a KeyObject). */
  checkSignature(publicKey: Uint8Array | KeyObject): boolean {
    const key = publicKey instanceof Uint8Array ? ed25519PublicKeyObject(publicKey) : publicKey;
    return verifyEd25519(key, this.#detailsBytes, this.signature);
  }

  private bytes(): Buffer {
    this.#bytes ??= encodeCertificate(this.#detailsBytes, this.signature);
    return this.#bytes;
  }
}

/** For the codec and the signer: a certificate whose details bytes are already canonical. */
export function certificateFromParts(
  details: CertificateDetails,
  signature: Uint8Array,
  detailsBytes: Buffer,
  bytes?: Buffer,
): NebulaCertificate {
  knownDetailsBytes = detailsBytes;
  knownBytes = bytes;
  return new NebulaCertificate(details, signature);
}

/** Every `NEBULA CERTIFICATE` block of `pem`, in order (a CA bundle). Other banners are errors. */
export function parseCertificateBundle(pem: string): NebulaCertificate[] {
  return decodePemBlocks(pem).map((block) => {
    if (block.banner !== CERTIFICATE_BANNER) {
      throw new PkiError('invalid-pem', `bytes did not contain a proper nebula certificate banner (found ${block.banner})`);
    }
    return NebulaCertificate.unmarshal(block.bytes);
  });
}

/**
 * Checks that values are encodable and returns a copy with times cut to whole seconds,
 * so a certificate in memory equals the one decoded from its bytes.
 */
export function normalizeDetails(d: CertificateDetails): CertificateDetails {
  const bad = (why: string): never => {
    throw new PkiError('invalid-input', why);
  };
  if (typeof d !== 'object' || d === null) bad('details must be an object');
  if (typeof d.name !== 'string' || !isWellFormed(d.name)) bad('name must be a well-formed string');
  const prefixes = (list: readonly Ipv4Prefix[], what: string): Ipv4Prefix[] => {
    if (!Array.isArray(list)) bad(`${what} must be an array`);
    return list.map((p) => {
      if (typeof p !== 'object' || p === null || !Number.isInteger(p.prefixLength) || p.prefixLength < 0 || p.prefixLength > 32) {
        bad(`${what} must hold IPv4 prefixes with a length 0..32`);
      }
      ipv4ToUint32(p.address);
      return { address: p.address, prefixLength: p.prefixLength };
    });
  };
  const ips = prefixes(d.ips, 'ips');
  const subnets = prefixes(d.subnets, 'subnets');
  if (!Array.isArray(d.groups) || d.groups.some((g) => typeof g !== 'string' || !isWellFormed(g))) {
    bad('groups must be well-formed strings');
  }
  const seconds = (date: Date, what: string): Date => {
    if (!(date instanceof Date) || Number.isNaN(date.getTime())) bad(`${what} must be a valid Date`);
    return new Date(unixSeconds(date) * 1000);
  };
  if (!(d.publicKey instanceof Uint8Array) || d.publicKey.length !== KEY_LENGTH) bad(`publicKey must be ${KEY_LENGTH} bytes`);
  if (typeof d.issuer !== 'string' || (d.issuer !== '' && !HEX_ISSUER.test(d.issuer))) {
    bad('issuer must be a lowercase hex SHA-256 fingerprint or empty');
  }
  return {
    name: d.name,
    ips,
    subnets,
    groups: [...d.groups],
    notBefore: seconds(d.notBefore, 'notBefore'),
    notAfter: seconds(d.notAfter, 'notAfter'),
    publicKey: new Uint8Array(d.publicKey),
    isCA: d.isCA === true,
    issuer: d.issuer,
  };
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** UTF-8 (protobuf strings) cannot carry a lone surrogate; Go's protobuf would refuse the string. */
function isWellFormed(text: string): boolean {
  return !LONE_SURROGATE.test(text);
}
