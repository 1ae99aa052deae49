import { PkiError } from './errors';

/**
 * The little of protobuf a nebula v1 certificate needs, written by hand because the bytes must be
 * exactly what Go's protobuf writes (nebula re-encodes a certificate before checking its
 * signature). Writing emits the canonical form; reading accepts only the canonical form.
 */

export const WIRE_VARINT = 0;
export const WIRE_LEN = 2;

/** Appends protobuf records to a growing buffer; `finish()` hands out the bytes written. */
export class ProtoWriter {
  private buf: Buffer;
  private pos = 0;

  constructor(capacity = 256) {
    this.buf = Buffer.allocUnsafe(capacity);
  }

  private ensure(extra: number): void {
    if (this.pos + extra <= this.buf.length) return;
    const bigger = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + extra));
    this.buf.copy(bigger, 0, 0, this.pos);
    this.buf = bigger;
  }

  /** An unsigned varint, 0 ≤ value < 2^53. */
  varint(value: number): void {
    this.ensure(10);
    if (value < 0x80000000) {
      while (value > 127) {
        this.buf[this.pos++] = (value & 127) | 128;
        value >>>= 7;
      }
      this.buf[this.pos++] = value;
      return;
    }
    while (value > 127) {
      this.buf[this.pos++] = (value % 128) | 128;
      value = Math.floor(value / 128);
    }
    this.buf[this.pos++] = value;
  }

  /** A signed int64 as protobuf writes it: two's complement, so negatives take ten bytes. */
  int64(value: number): void {
    if (value >= 0) return this.varint(value);
    this.ensure(10);
    let v = BigInt.asUintN(64, BigInt(value));
    while (v > 127n) {
      this.buf[this.pos++] = Number(v & 127n) | 128;
      v >>= 7n;
    }
    this.buf[this.pos++] = Number(v);
  }

  tag(field: number, wireType: number): void {
    this.varint(field * 8 + wireType);
  }

  /** A UTF-8 string field. Short ASCII (names, groups) is copied by hand: cheaper than a native call. */
  string(field: number, value: string): void {
    const n = value.length;
    let ascii = n < 128;
    for (let i = 0; i < n && ascii; i++) ascii = value.charCodeAt(i) < 0x80;
    if (!ascii) return this.lengthDelimited(field, Buffer.from(value, 'utf8'));
    this.tag(field, WIRE_LEN);
    this.buf[this.pos++] = n;
    this.ensure(n);
    for (let i = 0; i < n; i++) this.buf[this.pos++] = value.charCodeAt(i);
  }

  /** A bytes field given as lowercase hex (the issuer fingerprint). */
  hex(field: number, value: string): void {
    const n = value.length >>> 1;
    this.tag(field, WIRE_LEN);
    this.varint(n);
    this.ensure(n);
    for (let i = 0; i < n; i++) this.buf[this.pos++] = (HEX_VALUE[value.charCodeAt(2 * i)] << 4) | HEX_VALUE[value.charCodeAt(2 * i + 1)];
  }

  lengthDelimited(field: number, bytes: Uint8Array): void {
    this.tag(field, WIRE_LEN);
    this.varint(bytes.length);
    this.ensure(bytes.length);
    this.buf.set(bytes, this.pos);
    this.pos += bytes.length;
  }

  /** Packed repeated uint32: one record whose payload is the varints back to back. */
  packedUint32(field: number, values: readonly number[]): void {
    let size = 0;
    for (const v of values) size += uint32VarintSize(v);
    this.tag(field, WIRE_LEN);
    this.varint(size);
    for (const v of values) this.varint(v);
  }

  /** The bytes written so far: a view into the writer's buffer, valid until the next write. */
  finish(): Buffer {
    return this.buf.subarray(0, this.pos);
  }

  /** Starts over, keeping the buffer (for a writer reused across encodings). */
  reset(): void {
    this.pos = 0;
  }
}

const HEX_VALUE = new Uint8Array(128);
for (let i = 0; i < 16; i++) HEX_VALUE['0123456789abcdef'.charCodeAt(i)] = i;

export function uint32VarintSize(v: number): number {
  return v < 0x80 ? 1 : v < 0x4000 ? 2 : v < 0x200000 ? 3 : v < 0x10000000 ? 4 : 5;
}

/**
 * Reads protobuf records strictly: truncated or overlong (non-minimal) varints, varints beyond
 * 64 bits and lengths past the end are errors, reported as `invalid certificate: <what> ...`.
 */
export class ProtoReader {
  pos: number;

  constructor(
    private readonly bytes: Uint8Array,
    start: number,
    readonly end: number,
  ) {
    this.pos = start;
  }

  /** A varint of at most `maxBytes` bytes, as a number when it fits 53 bits, else a bigint. */
  private rawVarint(what: string): number | bigint {
    const start = this.pos;
    let result = 0;
    let scale = 1;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) throw invalid(`${what}: truncated varint`);
      const byte = this.bytes[this.pos++];
      if (i === 9 && byte > 1) throw invalid(`${what}: varint overflows 64 bits`);
      if (byte < 128) {
        if (byte === 0 && i > 0) throw invalid(`${what}: overlong varint`);
        if (i < 7) return result + byte * scale;
        return this.bigVarint(start);
      }
      result += (byte & 127) * scale;
      scale *= 128;
    }
    throw invalid(`${what}: varint longer than 10 bytes`);
  }

  private bigVarint(start: number): bigint {
    let result = 0n;
    for (let i = this.pos - 1; i >= start; i--) result = (result << 7n) | BigInt(this.bytes[i] & 127);
    return result;
  }

  uint32(what: string): number {
    const v = this.rawVarint(what);
    if (typeof v !== 'number' || v > 0xffffffff) throw invalid(`${what}: value does not fit 32 bits`);
    return v;
  }

  /** An int64 as a JavaScript number; beyond ±2^53 it cannot be a time a Date holds anyway. */
  int64(what: string): number {
    const v = this.rawVarint(what);
    const signed = typeof v === 'number' ? v : Number(BigInt.asIntN(64, v));
    if (!Number.isSafeInteger(signed)) throw invalid(`${what}: value out of range`);
    return signed;
  }

  /** A tag: field number * 8 + wire type. */
  tag(what: string): number {
    // Tags of fields 1..15 are one byte; take the common case without the generic path.
    const byte = this.bytes[this.pos];
    if (this.pos < this.end && byte < 128) {
      this.pos++;
      return byte;
    }
    return this.uint32(`${what} field tag`);
  }

  /** The [start, end) of a length-delimited payload, which must lie within this message. */
  lengthDelimited(what: string): [number, number] {
    const length = this.uint32(`${what} length`);
    const start = this.pos;
    if (length > this.end - start) throw invalid(`${what}: length ${length} runs past the end (${this.end - start} bytes left)`);
    this.pos = start + length;
    return [start, this.pos];
  }
}

export function invalid(detail: string): PkiError {
  return new PkiError('invalid-certificate', `invalid certificate: ${detail}`);
}
