import { MeshError } from './errors';

const OCTET = /^(0|[1-9][0-9]{0,2})$/;

/**
 * Parses a dotted-quad IPv4 address into an unsigned 32-bit number. Strict on purpose: exactly
 * four decimal octets 0..255, no leading zeros (which some parsers read as octal), no spaces, no
 * shorthand such as `10.1`.
 */
export function parseIpv4(text: unknown, field = 'ip'): number {
  if (typeof text !== 'string') throw new MeshError(field, 'must be a string holding an IPv4 address');
  const octets = text.split('.');
  if (octets.length !== 4) {
    throw new MeshError(field, `'${printable(text)}' is not an IPv4 address (expected four dot-separated numbers)`);
  }
  let value = 0;
  for (const octet of octets) {
    if (!OCTET.test(octet)) {
      const problem = /^0[0-9]+$/.test(octet) ? `octet '${octet}' has a leading zero` : `octet '${printable(octet)}' is not a decimal number`;
      throw new MeshError(field, `'${printable(text)}' is not an IPv4 address: ${problem}`);
    }
    const n = Number(octet);
    if (n > 255) throw new MeshError(field, `'${printable(text)}' is not an IPv4 address: octet ${n} is greater than 255`);
    value = value * 256 + n;
  }
  return value;
}

export function formatIpv4(value: number): string {
  if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) {
    throw new RangeError(`${value} is not a 32-bit unsigned integer`);
  }
  return [value >>> 24, (value >>> 16) & 0xff, (value >>> 8) & 0xff, value & 0xff].join('.');
}

/** Keeps error messages short and free of control characters when echoing input back. */
export function printable(text: string): string {
  const clean = text.replace(/[^\x20-\x7e]/g, '?');
  return clean.length > 64 ? `${clean.slice(0, 61)}...` : clean;
}
