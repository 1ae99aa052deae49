import { invalid, ProtoReader, ProtoWriter, uint32VarintSize, WIRE_LEN, WIRE_VARINT } from './protobuf';
import { type Ipv4Prefix, ipv4ToUint32, maskToPrefixLength, prefixLengthToMask, uint32ToIpv4 } from './ipv4';
import type { CertificateDetails } from './certificate';

/**
 * Nebula v1 certificate wire format (nebula's cert/cert.proto):
 *   RawNebulaCertificate        { 1 details: message; 2 signature: bytes }
 *   RawNebulaCertificateDetails { 1 name: string; 2 ips: packed uint32; 3 subnets: packed uint32;
 *     4 groups: repeated string; 5 notBefore: int64; 6 notAfter: int64; 7 publicKey: bytes;
 *     8 isCA: bool; 9 issuer: bytes }
 * ips/subnets are [address, mask] pairs of big-endian uint32s; times are Unix seconds.
 */

const PUBLIC_KEY_LENGTH = 32;
const SIGNATURE_LENGTH = 64;
const ISSUER_LENGTH = 32;

const DETAILS_FIELDS = ['', 'name', 'ips', 'subnets', 'groups', 'notBefore', 'notAfter', 'publicKey', 'isCA', 'issuer'];
const GROUPS_FIELD = 4;

/** Encodings are written here first, then copied out once at their final size. */
const scratch = new ProtoWriter(1024);

/** The canonical encoding of the details message: the bytes the CA signs. */
export function encodeDetails(d: CertificateDetails): Buffer {
  writeDetails(scratch, d);
  return Buffer.from(scratch.finish());
}

/** An encoded certificate still to be signed: `signature` goes at `signatureAt` in `bytes`. */
export interface UnsignedCertificate {
  /** The whole certificate; its last 64 bytes are for the signature. */
  bytes: Buffer;
  /** The details message within `bytes`: what the CA signs. */
  detailsBytes: Buffer;
  signatureAt: number;
}

/**
 * Lays out a whole certificate around its details in one buffer, so issuing allocates once:
 * `0a <len> details 12 40 <signature>`.
 */
export function encodeUnsigned(d: CertificateDetails): UnsignedCertificate {
  writeDetails(scratch, d);
  const details = scratch.finish();
  const n = details.length;
  const head = 1 + uint32VarintSize(n);
  const bytes = Buffer.allocUnsafe(head + n + 2 + SIGNATURE_LENGTH);
  bytes[0] = 0x0a;
  for (let i = 1, v = n; i < head; i++, v >>>= 7) bytes[i] = i === head - 1 ? v : (v & 127) | 128;
  details.copy(bytes, head);
  bytes[head + n] = 0x12;
  bytes[head + n + 1] = SIGNATURE_LENGTH;
  return { bytes, detailsBytes: bytes.subarray(head, head + n), signatureAt: head + n + 2 };
}

function writeDetails(w: ProtoWriter, d: CertificateDetails): void {
  w.reset();
  if (d.name !== '') w.string(1, d.name);
  if (d.ips.length > 0) w.packedUint32(2, prefixPairs(d.ips));
  if (d.subnets.length > 0) w.packedUint32(3, prefixPairs(d.subnets));
  for (const group of d.groups) w.string(4, group);
  const notBefore = unixSeconds(d.notBefore);
  if (notBefore !== 0) {
    w.tag(5, WIRE_VARINT);
    w.int64(notBefore);
  }
  const notAfter = unixSeconds(d.notAfter);
  if (notAfter !== 0) {
    w.tag(6, WIRE_VARINT);
    w.int64(notAfter);
  }
  if (d.publicKey.length > 0) w.lengthDelimited(7, d.publicKey);
  if (d.isCA) {
    w.tag(8, WIRE_VARINT);
    w.varint(1);
  }
  if (d.issuer !== '') w.hex(9, d.issuer);
}

/** The canonical encoding of the whole certificate: what PEM carries and the fingerprint hashes. */
export function encodeCertificate(detailsBytes: Uint8Array, signature: Uint8Array): Buffer {
  const w = new ProtoWriter(detailsBytes.length + signature.length + 8);
  w.lengthDelimited(1, detailsBytes);
  if (signature.length > 0) w.lengthDelimited(2, signature);
  return w.finish();
}

/** Go's time.Unix(): whole seconds, rounded down. */
export function unixSeconds(date: Date): number {
  return Math.floor(date.getTime() / 1000);
}

function prefixPairs(prefixes: readonly Ipv4Prefix[]): number[] {
  const pairs: number[] = [];
  for (const p of prefixes) pairs.push(ipv4ToUint32(p.address), prefixLengthToMask(p.prefixLength));
  return pairs;
}

export interface DecodedCertificate {
  details: CertificateDetails;
  signature: Buffer;
  /** The details message as it appeared in the input: the signed bytes. */
  detailsBytes: Buffer;
}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * Decodes a certificate, accepting only the canonical encoding (so re-encoding gives back the
 * same bytes, and the fingerprint is the SHA-256 of the input). Unknown fields are refused:
 * nebula's protobuf would skip them, but then drops them when it re-encodes, so no certificate a
 * nebula CA signed carries any. Throws only PkiError('invalid-certificate').
 */
export function decodeCertificate(input: Uint8Array): DecodedCertificate {
  if (!(input instanceof Uint8Array)) throw invalid('input must be bytes');
  const bytes = Buffer.isBuffer(input) ? input : Buffer.from(input.buffer, input.byteOffset, input.byteLength);
  if (bytes.length === 0) throw invalid('no bytes');
  const r = new ProtoReader(bytes, 0, bytes.length);
  let details: CertificateDetails | undefined;
  let detailsBytes: Buffer | undefined;
  let signature: Buffer | undefined;
  let last = 0;
  while (r.pos < r.end) {
    const tag = r.tag('certificate');
    const field = Math.floor(tag / 8);
    const wireType = tag & 7;
    if (field !== 1 && field !== 2) throw invalid(`unknown field ${field} in certificate`);
    const name = field === 1 ? 'details' : 'signature';
    if (wireType !== WIRE_LEN) throw invalid(`${name} has wire type ${wireType}, expected ${WIRE_LEN}`);
    if (field <= last) throw invalid(`not canonically encoded: ${name} out of order or repeated`);
    last = field;
    const [start, end] = r.lengthDelimited(name);
    if (field === 1) {
      detailsBytes = bytes.subarray(start, end);
      details = decodeDetails(bytes, start, end);
    } else {
      if (end - start !== SIGNATURE_LENGTH) throw invalid(`signature must be ${SIGNATURE_LENGTH} bytes, got ${end - start}`);
      signature = bytes.subarray(start, end);
    }
  }
  if (!details || !detailsBytes) throw invalid('encoded Details was nil');
  if (!signature) throw invalid('no signature');
  return { details, signature, detailsBytes };
}

function decodeDetails(bytes: Buffer, start: number, end: number): CertificateDetails {
  const r = new ProtoReader(bytes, start, end);
  let name = '';
  let ips: Ipv4Prefix[] = [];
  let subnets: Ipv4Prefix[] = [];
  const groups: string[] = [];
  let notBefore = 0;
  let notAfter = 0;
  let publicKey: Buffer | undefined;
  let isCA = false;
  let issuer = '';
  let last = 0;
  while (r.pos < r.end) {
    const tag = r.tag('details');
    const field = Math.floor(tag / 8);
    const wireType = tag & 7;
    const what = DETAILS_FIELDS[field];
    if (what === undefined || field === 0) throw invalid(`unknown field ${field} in details`);
    const expected = field === 5 || field === 6 || field === 8 ? WIRE_VARINT : WIRE_LEN;
    if (wireType !== expected) throw invalid(`${what} has wire type ${wireType}, expected ${expected}`);
    if (field < last || (field === last && field !== GROUPS_FIELD)) {
      throw invalid(`not canonically encoded: ${what} out of order or repeated`);
    }
    last = field;
    if (wireType === WIRE_VARINT) {
      if (field === 8) {
        const v = r.uint32(what);
        if (v !== 1) throw invalid(`not canonically encoded: isCA written as ${v}`);
        isCA = true;
      } else {
        const v = r.int64(what);
        if (v === 0) throw invalid(`not canonically encoded: zero ${what} written`);
        if (Math.abs(v) > MAX_DATE_SECONDS) throw invalid(`${what} ${v} is outside the dates this decoder represents`);
        if (field === 5) notBefore = v;
        else notAfter = v;
      }
      continue;
    }
    const [s, e] = r.lengthDelimited(what);
    switch (field) {
      case 1:
        if (s === e) throw invalid('not canonically encoded: empty name written');
        name = text(bytes, s, e, what);
        break;
      case 2:
        ips = decodePrefixes(bytes, s, e, 'IPs');
        break;
      case 3:
        subnets = decodePrefixes(bytes, s, e, 'Subnets');
        break;
      case 4:
        groups.push(text(bytes, s, e, 'group'));
        break;
      case 7:
        if (e - s !== PUBLIC_KEY_LENGTH) throw invalid(`public key must be ${PUBLIC_KEY_LENGTH} bytes, got ${e - s}`);
        publicKey = bytes.subarray(s, e);
        break;
      case 9:
        if (e - s !== ISSUER_LENGTH) throw invalid(`issuer must be ${ISSUER_LENGTH} bytes, got ${e - s}`);
        issuer = bytes.toString('hex', s, e);
        break;
    }
  }
  if (!publicKey) throw invalid('no public key');
  return {
    name,
    ips,
    subnets,
    groups,
    notBefore: new Date(notBefore * 1000),
    notAfter: new Date(notAfter * 1000),
    publicKey: new Uint8Array(publicKey),
    isCA,
    issuer,
  };
}

/** ±8.64e15 ms is the range of a JavaScript Date. */
const MAX_DATE_SECONDS = 8.64e12;

function text(bytes: Buffer, start: number, end: number, what: string): string {
  let ascii = true;
  for (let i = start; i < end && ascii; i++) ascii = bytes[i] < 0x80;
  if (ascii) return bytes.toString('latin1', start, end);
  try {
    return utf8.decode(bytes.subarray(start, end));
  } catch {
    throw invalid(`${what} is not valid UTF-8`);
  }
}

function decodePrefixes(bytes: Buffer, start: number, end: number, what: 'IPs' | 'Subnets'): Ipv4Prefix[] {
  if (start === end) throw invalid(`not canonically encoded: empty ${what} written`);
  const r = new ProtoReader(bytes, start, end);
  const values: number[] = [];
  while (r.pos < r.end) values.push(r.uint32(what));
  if (values.length % 2 !== 0) throw invalid(`encoded ${what} should be in pairs, an odd number was found`);
  const prefixes: Ipv4Prefix[] = [];
  for (let i = 0; i < values.length; i += 2) {
    const prefixLength = maskToPrefixLength(values[i + 1]);
    if (prefixLength === undefined) {
      throw invalid(`${what} mask ${uint32ToIpv4(values[i + 1])} is not a contiguous prefix`);
    }
    prefixes.push({ address: uint32ToIpv4(values[i]), prefixLength });
  }
  return prefixes;
}
