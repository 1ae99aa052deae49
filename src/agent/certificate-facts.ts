import { createHash } from 'node:crypto';
import { CERTIFICATE_BANNER, decodePemBlocks } from '../pki';

/**
 * The few facts the agent needs from its host certificate: its IP (a new IP needs a nebula
 * restart) and its validity (renewal timing). The full codec lives in src/pki, which the agent
 * may import for keys and PEM only (the agent stays small), so this reads just fields 2, 3, 5,
 * 6 and 7 of the v1 certificate's details message.
 */
export interface CertificateFacts {
  /** First IP with its prefix length, e.g. `10.42.0.5/16`. */
  readonly ip: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** The X25519 public key it certifies (after a key rotation: which key file goes with it). */
  readonly publicKey: Buffer;
  /** Lowercase hex SHA-256 of the certificate's bytes, as nebula-cert prints it and blocklists name it. */
  readonly fingerprint: string;
  /** The networks it routes for (an egress node's egress routes), e.g. `['10.0.0.0/16']`, in certificate order. */
  readonly subnets: readonly string[];
}

export class CertificateFactsError extends Error {
  override readonly name = 'CertificateFactsError';
}

/** Reads the first `NEBULA CERTIFICATE` PEM block of `pem`. */
export function readCertificateFacts(pem: string): CertificateFacts {
  let outer: Buffer;
  try {
    const block = decodePemBlocks(pem).find((b) => b.banner === CERTIFICATE_BANNER);
    if (!block) throw new CertificateFactsError(`no ${CERTIFICATE_BANNER} PEM block found`);
    outer = Buffer.from(block.bytes);
  } catch (err) {
    throw err instanceof CertificateFactsError ? err : new CertificateFactsError((err as Error).message);
  }
  const details = fields(outer).find((f) => f.number === 1 && f.bytes)?.bytes;
  if (!details) throw new CertificateFactsError('certificate has no details');
  const ips: number[] = [];
  const subnets: number[] = [];
  let notBefore = 0;
  let notAfter = 0;
  let publicKey = Buffer.alloc(0);
  for (const field of fields(details)) {
    if (field.number === 2 && field.bytes) ips.push(...packedVarints(field.bytes));
    else if (field.number === 2 && field.varint !== undefined) ips.push(field.varint);
    else if (field.number === 3 && field.bytes) subnets.push(...packedVarints(field.bytes));
    else if (field.number === 3 && field.varint !== undefined) subnets.push(field.varint);
    else if (field.number === 5 && field.varint !== undefined) notBefore = field.varint;
    else if (field.number === 6 && field.varint !== undefined) notAfter = field.varint;
    else if (field.number === 7 && field.bytes) publicKey = Buffer.from(field.bytes);
  }
  if (ips.length < 2) throw new CertificateFactsError('certificate has no IP');
  return {
    ip: `${ipv4(ips[0])}/${prefixLength(ips[1])}`,
    notBefore: new Date(notBefore * 1000),
    notAfter: new Date(notAfter * 1000),
    publicKey,
    fingerprint: createHash('sha256').update(outer).digest('hex'),
    subnets: pairs(subnets).map(([address, mask]) => `${ipv4(address)}/${prefixLength(mask)}`),
  };
}

interface Field {
  readonly number: number;
  readonly varint?: number;
  readonly bytes?: Buffer;
}

function fields(buf: Buffer): Field[] {
  const out: Field[] = [];
  let pos = 0;
  while (pos < buf.length) {
    const [key, afterKey] = varint(buf, pos);
    const number = Math.floor(key / 8);
    const wire = key % 8;
    if (wire === 0) {
      const [value, next] = varint(buf, afterKey);
      out.push({ number, varint: value });
      pos = next;
    } else if (wire === 2) {
      const [length, start] = varint(buf, afterKey);
      if (start + length > buf.length) throw new CertificateFactsError('truncated certificate');
      out.push({ number, bytes: buf.subarray(start, start + length) });
      pos = start + length;
    } else {
      throw new CertificateFactsError(`unexpected protobuf wire type ${wire}`);
    }
  }
  return out;
}

/** [address, mask] pairs of a packed list. */
function pairs(values: readonly number[]): [number, number][] {
  const out: [number, number][] = [];
  for (let i = 0; i + 1 < values.length; i += 2) out.push([values[i], values[i + 1]]);
  return out;
}

function packedVarints(buf: Buffer): number[] {
  const out: number[] = [];
  for (let pos = 0; pos < buf.length; ) {
    const [value, next] = varint(buf, pos);
    out.push(value);
    pos = next;
  }
  return out;
}

function varint(buf: Buffer, start: number): [number, number] {
  let value = 0;
  let scale = 1;
  for (let pos = start; pos < buf.length && pos - start < 10; pos++) {
    value += (buf[pos] & 0x7f) * scale;
    scale *= 128;
    if ((buf[pos] & 0x80) === 0) return [value, pos + 1];
  }
  throw new CertificateFactsError('truncated varint in certificate');
}

function ipv4(n: number): string {
  return [24, 16, 8, 0].map((shift) => Math.floor(n / 2 ** shift) % 256).join('.');
}

function prefixLength(mask: number): number {
  return mask.toString(2).replace(/0+$/, '').length;
}
