/**
 * Just enough HTTP/1.1 (RFC 9112) to proxy without rebuilding messages as objects: parse a head,
 * decide how its body is framed, and find where the body ends in a byte stream so that body
 * bytes are forwarded as they are. Parsing is strict: anything another parser could read
 * differently (obs-fold, Content-Length with Transfer-Encoding, odd chunk sizes) is refused.
 */

/** A request the proxy refuses before routing; `status` is what the client gets. */
export class HttpParseError extends Error {
  override readonly name = 'HttpParseError';
  constructor(
    readonly status: 400 | 431 | 501 | 505,
    message: string,
  ) {
    super(message);
  }
}

/** Header list as sent: `[name, value, name, value, ...]`, names in their original case. */
export type RawHeaders = string[];

/** What the proxy needs to know about a head, gathered in the one pass that parses it. */
export interface HeadFacts {
  /** Tokens of all `Connection` headers, lower-cased. */
  readonly connection: readonly string[];
  /** Tokens of all `Transfer-Encoding` headers, lower-cased, if any. */
  readonly transferEncoding: readonly string[] | undefined;
  /** Values of all `Content-Length` headers (comma lists split), if any. */
  readonly contentLength: readonly string[] | undefined;
  /** Values of all `Host` headers. */
  readonly host: readonly string[];
  readonly upgrade: boolean;
}

export interface RequestHead extends HeadFacts {
  readonly method: string;
  readonly target: string;
  /** 0 for HTTP/1.0, 1 for HTTP/1.1. */
  readonly minor: number;
  readonly headers: RawHeaders;
}

export interface ResponseHead extends HeadFacts {
  readonly status: number;
  readonly reason: string;
  readonly minor: number;
  readonly headers: RawHeaders;
}

/** How many body bytes follow a head: none, a known length, chunked, or until the connection closes. */
export type BodyFraming = { kind: 'none' } | { kind: 'length'; length: number } | { kind: 'chunked' } | { kind: 'close' };

const HEAD_END = Buffer.from('\r\n\r\n');
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const REQUEST_LINE = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+) ([^\s]+) HTTP\/1\.([01])$/;
const STATUS_LINE = /^HTTP\/1\.([01]) ([1-9]\d\d)(?: ([^\r\n]*))?$/;
// Field values: visible ASCII, space, tab and obs-text; never CR, LF or NUL.
const BAD_VALUE = /[\x00-\x08\x0a-\x1f\x7f]/;
const NONE: readonly string[] = [];

/** Index just past the blank line ending a head in `buf`, or -1 if it has not arrived yet. */
export function findHeadEnd(buf: Buffer, from = 0): number {
  const i = buf.indexOf(HEAD_END, Math.max(0, from - 3));
  return i < 0 ? -1 : i + 4;
}

function splitHead(buf: Buffer, end: number): string[] {
  return buf.toString('latin1', 0, end - 4).split('\r\n');
}

function tokens(value: string): string[] {
  return value
    .split(',')
    .map((t) => t.trim().toLowerCase())
    .filter((t) => t !== '');
}

type Facts = { -readonly [K in keyof HeadFacts]: HeadFacts[K] };

function parseHeaderLines(lines: string[]): { headers: RawHeaders; facts: Facts } {
  const headers: RawHeaders = [];
  const facts: Facts = { connection: NONE, transferEncoding: undefined, contentLength: undefined, host: NONE, upgrade: false };
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i];
    const colon = line.indexOf(':');
    if (colon <= 0) throw new HttpParseError(400, 'malformed header line');
    const name = line.slice(0, colon);
    if (!TOKEN.test(name)) throw new HttpParseError(400, 'malformed header name');
    const value = line.slice(colon + 1).trim();
    if (BAD_VALUE.test(value)) throw new HttpParseError(400, `bad characters in header ${name}`);
    headers.push(name, value);
    // Only names of these lengths matter below; most headers skip the lower-casing.
    const n = name.length;
    if (n !== 4 && n !== 7 && n !== 10 && n !== 14 && n !== 17) continue;
    switch (name.toLowerCase()) {
      case 'host':
        facts.host = [...facts.host, value];
        break;
      case 'upgrade':
        facts.upgrade = true;
        break;
      case 'connection':
        facts.connection = [...facts.connection, ...tokens(value)];
        break;
      case 'content-length':
        facts.contentLength = [...(facts.contentLength ?? []), ...value.split(',').map((v) => v.trim())];
        break;
      case 'transfer-encoding':
        facts.transferEncoding = [...(facts.transferEncoding ?? []), ...tokens(value)];
        break;
    }
  }
  return { headers, facts };
}

/** Parses a request head that ends at `end` (from `findHeadEnd`). */
export function parseRequestHead(buf: Buffer, end: number): RequestHead {
  const lines = splitHead(buf, end);
  const m = REQUEST_LINE.exec(lines[0]);
  if (!m) {
    if (/ HTTP\/\d/.test(lines[0]) && !/ HTTP\/1\.[01]$/.test(lines[0])) throw new HttpParseError(505, 'HTTP version not supported');
    throw new HttpParseError(400, 'malformed request line');
  }
  const { headers, facts } = parseHeaderLines(lines);
  return { method: m[1], target: m[2], minor: Number(m[3]), headers, ...facts };
}

/** Parses a response head that ends at `end`; throws `HttpParseError` (status 502 is the caller's). */
export function parseResponseHead(buf: Buffer, end: number): ResponseHead {
  const lines = splitHead(buf, end);
  const m = STATUS_LINE.exec(lines[0]);
  if (!m) throw new HttpParseError(400, 'malformed status line');
  const { headers, facts } = parseHeaderLines(lines);
  return { status: Number(m[2]), reason: m[3] ?? '', minor: Number(m[1]), headers, ...facts };
}

function lengthAndEncoding(head: HeadFacts): BodyFraming | undefined {
  const encodings = head.transferEncoding;
  const lengths = head.contentLength;
  if (encodings) {
    if (lengths) throw new HttpParseError(400, 'both Transfer-Encoding and Content-Length');
    if (encodings.length !== 1 || encodings[0] !== 'chunked') throw new HttpParseError(501, 'unsupported Transfer-Encoding');
    return { kind: 'chunked' };
  }
  if (lengths) {
    if (!lengths.every((l) => /^\d{1,15}$/.test(l) && l === lengths[0])) throw new HttpParseError(400, 'bad Content-Length');
    const length = Number(lengths[0]);
    return length === 0 ? NO_BODY : { kind: 'length', length };
  }
  return undefined;
}

const NO_BODY: BodyFraming = { kind: 'none' };

/** RFC 9112 §6.3 for requests: no framing headers means no body. */
export function requestFraming(head: RequestHead): BodyFraming {
  return lengthAndEncoding(head) ?? NO_BODY;
}

/** RFC 9112 §6.3 for responses, which depend on the request method and the status. */
export function responseFraming(head: ResponseHead, requestMethod: string): BodyFraming {
  if (requestMethod === 'HEAD' || head.status < 200 || head.status === 204 || head.status === 304) return NO_BODY;
  return lengthAndEncoding(head) ?? { kind: 'close' };
}

/** Whether the sender of a message wants its connection closed after it. */
export function wantsClose(head: { minor: number; connection: readonly string[] }): boolean {
  return head.minor === 0 ? !head.connection.includes('keep-alive') : head.connection.includes('close');
}

const enum Chunk {
  Size,
  Ext,
  SizeLf,
  Data,
  DataCr,
  DataLf,
  TrailerStart,
  TrailerLine,
  TrailerLf,
  EndLf,
  Done,
}

/**
 * Follows a chunked body through a byte stream without copying it, to find where it ends.
 * Bytes before that point are forwarded as they are; the other side parses the very same bytes.
 */
export class ChunkedScanner {
  private state = Chunk.Size;
  private remaining = 0;
  private sizeDigits = 0;
  private lineLength = 0;

  get done(): boolean {
    return this.state === Chunk.Done;
  }

  /**
   * Consumes `buf[start..]` and returns the index just past the body's last byte, or `buf.length`
   * if the body continues. Throws `HttpParseError` on malformed framing.
   */
  scan(buf: Buffer, start: number): number {
    let i = start;
    const n = buf.length;
    while (i < n && this.state !== Chunk.Done) {
      switch (this.state) {
        case Chunk.Data: {
          const take = Math.min(this.remaining, n - i);
          this.remaining -= take;
          i += take;
          if (this.remaining === 0) this.state = Chunk.DataCr;
          continue;
        }
        case Chunk.Size: {
          const c = buf[i];
          const digit = hexValue(c);
          if (digit >= 0) {
            if (++this.sizeDigits > 12) throw new HttpParseError(400, 'chunk size too large');
            this.remaining = this.remaining * 16 + digit;
          } else if (this.sizeDigits > 0 && (c === 0x3b || c === 0x20 || c === 0x09)) {
            this.state = Chunk.Ext;
          } else if (this.sizeDigits > 0 && c === 0x0d) {
            this.state = Chunk.SizeLf;
          } else {
            throw new HttpParseError(400, 'malformed chunk size');
          }
          break;
        }
        case Chunk.Ext:
          if (buf[i] === 0x0d) this.state = Chunk.SizeLf;
          else if (buf[i] === 0x0a || ++this.lineLength > 4096) throw new HttpParseError(400, 'malformed chunk extension');
          break;
        case Chunk.SizeLf:
          if (buf[i] !== 0x0a) throw new HttpParseError(400, 'malformed chunk size line');
          this.sizeDigits = 0;
          this.lineLength = 0;
          this.state = this.remaining === 0 ? Chunk.TrailerStart : Chunk.Data;
          break;
        case Chunk.DataCr:
          if (buf[i] !== 0x0d) throw new HttpParseError(400, 'chunk data longer than its size');
          this.state = Chunk.DataLf;
          break;
        case Chunk.DataLf:
          if (buf[i] !== 0x0a) throw new HttpParseError(400, 'malformed chunk end');
          this.state = Chunk.Size;
          break;
        case Chunk.TrailerStart:
          if (buf[i] === 0x0d) this.state = Chunk.EndLf;
          else {
            this.lineLength = 1;
            this.state = Chunk.TrailerLine;
          }
          break;
        case Chunk.TrailerLine:
          if (buf[i] === 0x0d) this.state = Chunk.TrailerLf;
          else if (buf[i] === 0x0a || ++this.lineLength > 8192) throw new HttpParseError(400, 'malformed trailer');
          break;
        case Chunk.TrailerLf:
          if (buf[i] !== 0x0a) throw new HttpParseError(400, 'malformed trailer');
          this.state = Chunk.TrailerStart;
          break;
        case Chunk.EndLf:
          if (buf[i] !== 0x0a) throw new HttpParseError(400, 'malformed last chunk');
          this.state = Chunk.Done;
          break;
      }
      i++;
    }
    return i;
  }
}

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  return -1;
}

/**
 * Tracks a body of any framing through a byte stream: `take` says how many bytes from `start`
 * belong to it; `done` says whether it has ended.
 */
export class BodyTracker {
  private remaining: number;
  private readonly chunked: ChunkedScanner | undefined;

  constructor(readonly framing: BodyFraming) {
    this.remaining = framing.kind === 'length' ? framing.length : 0;
    this.chunked = framing.kind === 'chunked' ? new ChunkedScanner() : undefined;
  }

  get done(): boolean {
    switch (this.framing.kind) {
      case 'none':
        return true;
      case 'length':
        return this.remaining === 0;
      case 'chunked':
        return this.chunked!.done;
      case 'close':
        return false;
    }
  }

  /** Returns the end index (exclusive) of this body's bytes within `buf[start..]`. */
  take(buf: Buffer, start: number): number {
    switch (this.framing.kind) {
      case 'none':
        return start;
      case 'length': {
        const n = Math.min(this.remaining, buf.length - start);
        this.remaining -= n;
        return start + n;
      }
      case 'chunked':
        return this.chunked!.scan(buf, start);
      case 'close':
        return buf.length;
    }
  }
}
