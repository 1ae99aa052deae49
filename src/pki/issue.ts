import { certificateFromParts, type CertificateDetails, type NebulaCertificate } from './certificate';
import { encodeUnsigned } from './certificate-codec';
import { checkRootConstraints } from './constraints';
import { parseGoDuration } from './duration';
import { PkiError } from './errors';
import { formatIpv4Prefix, type Ipv4Prefix, ipv4Network, parseIpv4Prefix } from './ipv4';
import type { Signer } from './signer';

/** A prefix as an object or as `a.b.c.d/n` text. */
export type Ipv4PrefixInput = Ipv4Prefix | string;

/** Validity: an explicit end, or a duration from notBefore (milliseconds, or Go text like `8760h`). */
export interface Validity {
  notBefore?: Date;
  notAfter?: Date;
  duration?: number | string;
  /** The current time; defaults to the clock (tests pass a fixed one). */
  now?: Date;
}

export interface CreateCAOptions extends Validity {
  signer: Signer;
  name: string;
  /** IPs the CA may issue within (host addresses kept, like nebula-cert ca -ips). */
  ips?: readonly Ipv4PrefixInput[];
  /** Subnets the CA may issue within (masked to their network, like nebula-cert). */
  subnets?: readonly Ipv4PrefixInput[];
  /** Groups the CA may issue; none means any. */
  groups?: readonly string[];
}

export interface SignCertificateOptions extends Validity {
  /** The issuing CA certificate; `signer` must hold its key. */
  ca: NebulaCertificate;
  signer: Signer;
  name: string;
  /** At least one; nebula 1.6 uses the first as the host's overlay address. */
  ips: readonly Ipv4PrefixInput[];
  groups?: readonly string[];
  subnets?: readonly Ipv4PrefixInput[];
  /** The host's X25519 public key, 32 bytes. The host keeps its private key. */
  publicKey: Uint8Array;
}

const SECOND = 1000;

/** Which operation refuses, for the message prefix. */
type Refusal = 'refusing to sign' | 'refusing to create CA';
const SIGN: Refusal = 'refusing to sign';
const CREATE_CA: Refusal = 'refusing to create CA';

function fail(refusal: Refusal, why: string): never {
  throw new PkiError('invalid-input', `${refusal}, ${why}`);
}

/** A self-signed CA certificate for the signer's Ed25519 key (any Signer: local, KMS, secret). */
export async function createCA(options: CreateCAOptions): Promise<NebulaCertificate> {
  const name = requireName(options.name, CREATE_CA);
  const groups = normalizeGroups(options.groups, CREATE_CA);
  const ips = normalizePrefixes(options.ips ?? [], false, 'ips', CREATE_CA);
  const subnets = normalizePrefixes(options.subnets ?? [], true, 'subnets', CREATE_CA);
  const now = options.now ?? new Date();
  const start = options.notBefore ?? now;
  const notBefore = wholeSeconds(start);
  if (options.notAfter === undefined && options.duration === undefined) fail(CREATE_CA, 'notAfter or duration is required');
  const notAfter = resolveNotAfter(options, start, CREATE_CA);
  const publicKey = new Uint8Array(await signerPublicKey(options.signer));
  const details: CertificateDetails = { name, ips, subnets, groups, notBefore, notAfter, publicKey, isCA: true, issuer: '' };
  return signDetails(details, options.signer);
}

/**
 * Signs a host's public key under a CA, refusing (PkiError, message saying why) whatever nebula
 * would reject: bad input, a signer that does not hold the CA's key, a CA outside its validity,
 * and anything outside the CA's validity, groups, IPs or subnets.
 */
export async function signCertificate(options: SignCertificateOptions): Promise<NebulaCertificate> {
  const { ca } = options;
  const name = requireName(options.name, SIGN);
  if (!(options.publicKey instanceof Uint8Array) || options.publicKey.length !== 32) {
    throw new PkiError('invalid-key', `refusing to sign, public key must be 32 bytes (X25519), got ${describeLength(options.publicKey)}`);
  }
  if (!Array.isArray(options.ips) || options.ips.length === 0) fail(SIGN, 'at least one ip is required');
  const ips = normalizePrefixes(options.ips, false, 'ip', SIGN);
  const subnets = normalizePrefixes(options.subnets ?? [], true, 'subnet', SIGN);
  const groups = normalizeGroups(options.groups, SIGN);
  const now = options.now ?? new Date();

  if (!ca.details.isCA) throw new PkiError('not-ca', 'refusing to sign, the signing certificate is not a CA');
  const signerKey = await signerPublicKey(options.signer);
  if (!sameBytes(signerKey, ca.details.publicKey)) {
    throw new PkiError('key-mismatch', 'refusing to sign, root certificate does not match private key');
  }
  if (ca.details.notAfter.getTime() < now.getTime()) throw new PkiError('ca-expired', 'ca certificate is expired');
  if (ca.details.notBefore.getTime() > now.getTime()) throw new PkiError('ca-expired', 'ca certificate is not valid yet');

  const start = options.notBefore ?? now;
  const notBefore = wholeSeconds(start);
  // nebula-cert's default: one second before the CA expires.
  const notAfter =
    options.notAfter === undefined && options.duration === undefined
      ? new Date(ca.details.notAfter.getTime() - SECOND)
      : resolveNotAfter(options, start, SIGN);
  if (notAfter.getTime() <= notBefore.getTime()) fail(SIGN, 'notAfter must be after notBefore');

  const details: CertificateDetails = {
    name,
    ips,
    subnets,
    groups,
    notBefore,
    notAfter,
    publicKey: new Uint8Array(options.publicKey),
    isCA: false,
    issuer: ca.fingerprint(),
  };
  try {
    checkRootConstraints(details, ca.details);
  } catch (err) {
    const e = err as PkiError;
    throw new PkiError(e.code, `refusing to sign, root certificate constraints violated: ${e.message}`);
  }
  return signDetails(details, options.signer);
}

async function signDetails(details: CertificateDetails, signer: Signer): Promise<NebulaCertificate> {
  const { bytes, detailsBytes, signatureAt } = encodeUnsigned(details);
  const signature = await signer.sign(detailsBytes);
  if (!(signature instanceof Uint8Array) || signature.length !== 64) {
    throw new PkiError('invalid-key', `signer returned ${describeLength(signature)} instead of a 64-byte Ed25519 signature`);
  }
  bytes.set(signature, signatureAt);
  return certificateFromParts(details, signature, detailsBytes, bytes);
}

/**
 * A signer's key never changes, so it is asked once per Signer object: for a KMS signer that
 * saves a GetPublicKey call per certificate.
 */
const signerKeys = new WeakMap<Signer, Uint8Array>();

async function signerPublicKey(signer: Signer): Promise<Uint8Array> {
  const known = signerKeys.get(signer);
  if (known) return known;
  const key = await signer.publicKey();
  if (!(key instanceof Uint8Array) || key.length !== 32) {
    throw new PkiError('invalid-key', `signer's public key is ${describeLength(key)}, not a 32-byte Ed25519 key`);
  }
  const copy = new Uint8Array(key);
  signerKeys.set(signer, copy);
  return copy;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function describeLength(value: unknown): string {
  return value instanceof Uint8Array ? `${value.length} bytes` : typeof value;
}

function requireName(name: unknown, refusal: Refusal): string {
  if (typeof name !== 'string' || !/\S/.test(name)) fail(refusal, 'name is required');
  return name as string;
}

function normalizeGroups(groups: readonly string[] | undefined, refusal: Refusal): string[] {
  if (groups === undefined) return [];
  if (!Array.isArray(groups)) fail(refusal, 'groups must be a list of names');
  for (const g of groups) {
    if (typeof g !== 'string' || !/\S/.test(g)) fail(refusal, 'a group name must not be empty');
  }
  return groups.slice();
}

function normalizePrefixes(
  list: readonly Ipv4PrefixInput[],
  toNetwork: boolean,
  what: string,
  refusal: Refusal,
): Ipv4Prefix[] {
  if (!Array.isArray(list)) fail(refusal, `${what} must be a list of IPv4 CIDRs`);
  return list.map((entry) => {
    let prefix: Ipv4Prefix;
    try {
      prefix = parseIpv4Prefix(typeof entry === 'string' ? entry : formatIpv4Prefix(entry));
    } catch (err) {
      return fail(refusal, `invalid ${what} definition: ${(err as Error).message}`);
    }
    return toNetwork ? ipv4Network(prefix) : prefix;
  });
}

function wholeSeconds(date: Date): Date {
  if (!(date instanceof Date) || Number.isNaN(date.getTime())) throw new PkiError('invalid-input', 'times must be valid Dates');
  return new Date(Math.floor(date.getTime() / SECOND) * SECOND);
}

/** notAfter, from `start` (the unrounded notBefore, as nebula-cert adds the duration to time.Now()). */
function resolveNotAfter(options: Validity, start: Date, refusal: Refusal): Date {
  const notBefore = wholeSeconds(start);
  if (options.notAfter !== undefined && options.duration !== undefined) fail(refusal, 'give notAfter or duration, not both');
  let notAfter: Date;
  if (options.notAfter !== undefined) {
    notAfter = wholeSeconds(options.notAfter);
  } else {
    const duration = typeof options.duration === 'string' ? parseGoDuration(options.duration) : options.duration;
    if (typeof duration !== 'number' || !Number.isFinite(duration) || duration <= 0) fail(refusal, 'duration must be greater than 0');
    notAfter = wholeSeconds(new Date(start.getTime() + (duration as number)));
  }
  if (notAfter.getTime() <= notBefore.getTime()) fail(refusal, 'notAfter must be after notBefore');
  return notAfter;
}
