import { METHODS } from 'node:http';

/**
 * Just enough HTTP/1.1 (RFC 9112) to proxy without rebuilding messages as objects: parse a head,
 * decide how its body is framed, and find where the body ends in a byte stream so that body
 * bytes are forwarded as they are. Parsing is at least as strict as Node's llhttp in its default
 * (strict) mode, and stricter wherever a message could be read two ways: anything another parser
 * could frame or route differently is refused, never repaired.
 */

/** A message the proxy refuses; `status` is what a client gets (a bad response becomes 502). */
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
  /** `Transfer-Encoding: chunked` (the only transfer coding accepted). */
  readonly chunked: boolean;
  /** The `Content-Length`, if there is one. */
  readonly contentLength: number | undefined;
  /** The `Host` header's value (at most one is accepted); empty in a response. */
  readonly host: readonly string[];
  /** An `Upgrade` header is present. */
  readonly upgrade: boolean;
}

export interface RequestHead extends HeadFacts {
  readonly method: string;
  /** Origin-form (`/path?query`), or `*` for `OPTIONS *`; an absolute-form target is reduced to this. */
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

const CR = 0x0d;
const LF = 0x0a;
const SP = 0x20;
const HTAB = 0x09;
const HEAD_END = Buffer.from('\r\n\r\n');
const NONE: readonly string[] = [];

/** Byte classes, one table lookup per byte. */
const TCHAR = 1; // RFC 9110 token character
const VALUE = 2; // field-value byte: HTAB, SP, VCHAR, obs-text (never CTLs or DEL)
const TARGET = 4; // request-target byte: VCHAR only
const HEX = 8;
const QDTEXT = 16; // quoted-string text (no DQUOTE, no backslash)
const CLASS = new Uint8Array(256);
for (let c = 0; c < 256; c++) {
  const vchar = c >= 0x21 && c <= 0x7e;
  const obsText = c >= 0x80;
  let k = 0;
  if ((c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || "!#$%&'*+-.^_`|~".includes(String.fromCharCode(c))) k |= TCHAR;
  if (vchar || obsText || c === SP || c === HTAB) k |= VALUE;
  if (vchar) k |= TARGET;
  if ((c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66)) k |= HEX;
  if (c === HTAB || c === SP || c === 0x21 || (c >= 0x23 && c <= 0x5b) || (c >= 0x5d && c <= 0x7e) || obsText) k |= QDTEXT;
  CLASS[c] = k;
}

/** Methods Node's parser knows (environments are often Node), less those that are not plain requests. */
const KNOWN_METHODS = new Set(METHODS.filter((m) => m !== 'CONNECT' && m !== 'PRI'));

/**
 * Names that must never be listed in `Connection`: a hop that drops them would forward a message
 * framed (or routed) differently from how it was read. `keep-alive`, `close`, `upgrade` and `te`
 * are the normal tokens; other names are merely dropped.
 */
function namesFramingHeader(token: string): boolean {
  return token === 'content-length' || token === 'transfer-encoding' || token === 'host';
}

/** Index just past the blank line ending a head in `buf`, or -1 if it has not arrived yet. */
export function findHeadEnd(buf: Buffer, from = 0): number {
  const i = buf.indexOf(HEAD_END, Math.max(0, from - 3));
  return i < 0 ? -1 : i + 4;
}

const bad = (message: string) => new HttpParseError(400, message);

type Facts = { -readonly [K in keyof HeadFacts]: HeadFacts[K] };

/** Scans `buf[from..]` to the CR ending a line; returns the CR's index. Every byte must be in `klass`. */
function lineEnd(buf: Buffer, from: number, end: number, klass: number, what: string): number {
  let i = from;
  while (i < end && CLASS[buf[i]] & klass) i++;
  if (i >= end || buf[i] !== CR || buf[i + 1] !== LF) throw bad(`bad character in ${what}`);
  return i;
}

/**
 * Parses header lines from `pos` up to the blank line that ends at `end`. Only SP and HTAB are
 * optional whitespace; a value may not start or end with NBSP (0xA0), the one byte Node delivers
 * as a Latin-1 character that JavaScript's `trim()` removes.
 */
function parseHeaderLines(buf: Buffer, text: string, pos: number, end: number, isRequest: boolean): { headers: RawHeaders; facts: Facts } {
  const headers: RawHeaders = [];
  const facts: Facts = { connection: NONE, chunked: false, contentLength: undefined, host: NONE, upgrade: false };
  let transferEncoding = false;
  const last = end - 2; // the blank line's CR
  while (pos < last) {
    const nameStart = pos;
    while (CLASS[buf[pos]] & TCHAR) pos++;
    if (pos === nameStart || buf[pos] !== 0x3a) throw bad('malformed header line');
    const nameEnd = pos++;
    while (buf[pos] === SP || buf[pos] === HTAB) pos++;
    const valueStart = pos;
    const cr = lineEnd(buf, pos, last + 1, VALUE, 'a header value');
    let valueEnd = cr;
    while (valueEnd > valueStart && (buf[valueEnd - 1] === SP || buf[valueEnd - 1] === HTAB)) valueEnd--;
    if (valueEnd > valueStart && (buf[valueStart] === 0xa0 || buf[valueEnd - 1] === 0xa0)) throw bad('header value with a no-break space at an edge');
    pos = cr + 2;
    const name = text.slice(nameStart, nameEnd);
    const value = text.slice(valueStart, valueEnd);
    headers.push(name, value);
    // Only names of these lengths matter below; most headers skip the lower-casing.
    const n = nameEnd - nameStart;
    if (n !== 4 && n !== 7 && n !== 10 && n !== 14 && n !== 17) continue;
    switch (name.toLowerCase()) {
      case 'host':
        if (!isRequest) break;
        if (facts.host.length > 0) throw bad('more than one Host header');
        if (!isHostValue(value)) throw bad('malformed Host header');
        facts.host = [value];
        break;
      case 'upgrade':
        facts.upgrade = true;
        break;
      case 'connection':
        facts.connection = connectionTokens(value, facts.connection);
        break;
      case 'content-length':
        if (hasTab(buf, nameEnd, cr)) throw bad('HTAB in Content-Length');
        if (facts.contentLength !== undefined) throw bad('more than one Content-Length header');
        facts.contentLength = contentLengthOf(value);
        break;
      case 'transfer-encoding':
        // Only a lone `chunked`: a list or a second header could be read as another coding.
        if (hasTab(buf, nameEnd, cr)) throw bad('HTAB in Transfer-Encoding');
        if (transferEncoding) throw new HttpParseError(501, 'more than one Transfer-Encoding header');
        if (value.length !== 7 || value.toLowerCase() !== 'chunked') throw new HttpParseError(501, 'unsupported Transfer-Encoding');
        transferEncoding = true;
        facts.chunked = true;
        break;
    }
  }
  if (pos !== last) throw bad('malformed head end');
  if (facts.chunked && facts.contentLength !== undefined) throw bad('both Transfer-Encoding and Content-Length');
  return { headers, facts };
}

/** Node's parser refuses HTAB around framing values (SP is fine), so the proxy refuses it there too. */
function hasTab(buf: Buffer, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (buf[i] === HTAB) return true;
  return false;
}

function connectionTokens(value: string, before: readonly string[]): string[] {
  const out = [...before];
  for (const raw of value.split(',')) {
    const token = trimOws(raw).toLowerCase();
    if (token === '') continue;
    for (let i = 0; i < token.length; i++) if (!(CLASS[token.charCodeAt(i)] & TCHAR)) throw bad('malformed Connection header');
    if (namesFramingHeader(token)) throw bad(`Connection names ${token}`);
    out.push(token);
  }
  return out;
}

function trimOws(s: string): string {
  let a = 0;
  let b = s.length;
  while (a < b && (s.charCodeAt(a) === SP || s.charCodeAt(a) === HTAB)) a++;
  while (b > a && (s.charCodeAt(b - 1) === SP || s.charCodeAt(b - 1) === HTAB)) b--;
  return a === 0 && b === s.length ? s : s.slice(a, b);
}

/** 1 to 15 digits and nothing else (no list, sign, or inner whitespace; HTAB is not tolerated). */
function contentLengthOf(value: string): number {
  const n = value.length;
  if (n === 0 || n > 15) throw bad('bad Content-Length');
  let length = 0;
  for (let i = 0; i < n; i++) {
    const d = value.charCodeAt(i) - 0x30;
    if (d < 0 || d > 9) throw bad('bad Content-Length');
    length = length * 10 + d;
  }
  return length;
}

/** `host [":" port]`: a DNS name or IPv4 address, or an IPv6 literal in brackets; a port of digits only. */
function isHostValue(value: string): boolean {
  const n = value.length;
  let i = 0;
  if (value.charCodeAt(0) === 0x5b) {
    const close = value.indexOf(']');
    if (close < 3) return false;
    for (i = 1; i < close; i++) {
      const c = value.charCodeAt(i);
      if (!(CLASS[c] & HEX) && c !== 0x3a && c !== 0x2e) return false;
    }
    i = close + 1;
  } else {
    for (; i < n; i++) {
      const c = value.charCodeAt(i);
      const alnum = (c >= 0x30 && c <= 0x39) || ((c | 0x20) >= 0x61 && (c | 0x20) <= 0x7a);
      if (!alnum && c !== 0x2d && c !== 0x2e && c !== 0x5f) break;
    }
    if (i === 0) return false;
  }
  if (i === n) return true;
  if (value.charCodeAt(i) !== 0x3a || n - i - 1 < 1 || n - i - 1 > 5) return false;
  for (i++; i < n; i++) {
    const c = value.charCodeAt(i);
    if (c < 0x30 || c > 0x39) return false;
  }
  return true;
}

/** The `HTTP/1.x` at `pos` of the head's text; returns x. */
function versionAt(text: string, pos: number, end: number): number {
  if (pos + 8 > end) throw bad('malformed HTTP version');
  const minor = text.charCodeAt(pos + 7) - 0x30;
  if (!text.startsWith('HTTP/1.', pos) || (minor !== 0 && minor !== 1)) {
    if (text.startsWith('HTTP/', pos)) throw new HttpParseError(505, 'HTTP version not supported');
    throw bad('malformed HTTP version');
  }
  return minor;
}

/** Parses a request head that ends at `end` (from `findHeadEnd`). */
export function parseRequestHead(buf: Buffer, end: number): RequestHead {
  // Bytes are checked on the buffer; strings are cut from one Latin-1 copy of the head (same offsets).
  const text = buf.toString('latin1', 0, end);
  // RFC 9112 §2.2: one empty line before a request (after a body, from old clients) is ignored.
  let pos = buf[0] === CR && buf[1] === LF ? 2 : 0;
  const methodStart = pos;
  while (pos < end && ((buf[pos] >= 0x41 && buf[pos] <= 0x5a) || buf[pos] === 0x2d)) pos++;
  if (pos === methodStart || buf[pos] !== SP) throw bad('malformed request line');
  const method = text.slice(methodStart, pos);
  if (!KNOWN_METHODS.has(method)) throw new HttpParseError(501, 'unknown method');
  const targetStart = ++pos;
  while (pos < end && CLASS[buf[pos]] & TARGET) pos++;
  if (pos === targetStart || buf[pos] !== SP) throw bad('malformed request target');
  const rawTarget = text.slice(targetStart, pos);
  const minor = versionAt(text, pos + 1, end);
  pos += 9;
  if (buf[pos] !== CR || buf[pos + 1] !== LF) throw bad('malformed request line');
  const { headers, facts } = parseHeaderLines(buf, text, pos + 2, end, true);
  if (facts.chunked && minor === 0) throw bad('chunked in an HTTP/1.0 request');
  const target = originForm(rawTarget, method, facts.host[0]);
  return { method, target, minor, headers, ...facts };
}

/**
 * The target in origin-form. An absolute-form target (RFC 9112 §3.2.2, which servers must accept)
 * is accepted only when it names the same authority as `Host`, and is passed on as origin-form so
 * the environment never sees a second, disagreeing host. Authority-form (CONNECT) is not served.
 */
function originForm(target: string, method: string, host: string | undefined): string {
  const first = target.charCodeAt(0);
  if (first === 0x2f) return target;
  if (target === '*' && method === 'OPTIONS') return target;
  const scheme = target.slice(0, 8).toLowerCase();
  const authorityStart = scheme === 'https://' ? 8 : scheme.startsWith('http://') ? 7 : -1;
  if (authorityStart < 0) throw bad('malformed request target');
  let authorityEnd = authorityStart;
  while (authorityEnd < target.length && target[authorityEnd] !== '/' && target[authorityEnd] !== '?') authorityEnd++;
  const authority = target.slice(authorityStart, authorityEnd);
  if (host === undefined || authority.toLowerCase() !== host.toLowerCase()) throw bad('absolute-form target names another host than Host');
  const rest = target.slice(authorityEnd);
  return rest === '' ? '/' : rest.charCodeAt(0) === 0x3f ? `/${rest}` : rest;
}

/** Parses a response head that ends at `end`; throws `HttpParseError` (the caller answers 502). */
export function parseResponseHead(buf: Buffer, end: number): ResponseHead {
  const text = buf.toString('latin1', 0, end);
  const minor = versionAt(text, 0, end);
  const d0 = buf[9] - 0x30;
  const d1 = buf[10] - 0x30;
  const d2 = buf[11] - 0x30;
  if (buf[8] !== SP || !(d0 >= 1 && d0 <= 9) || !(d1 >= 0 && d1 <= 9) || !(d2 >= 0 && d2 <= 9)) throw bad('malformed status line');
  let pos = 12;
  let reason = '';
  if (buf[pos] === SP) {
    const cr = lineEnd(buf, pos + 1, end, VALUE, 'the reason phrase');
    reason = text.slice(pos + 1, cr);
    pos = cr;
  }
  if (buf[pos] !== CR || buf[pos + 1] !== LF) throw bad('malformed status line');
  const { headers, facts } = parseHeaderLines(buf, text, pos + 2, end, false);
  if (facts.chunked && minor === 0) throw bad('chunked in an HTTP/1.0 response');
  return { status: d0 * 100 + d1 * 10 + d2, reason, minor, headers, ...facts };
}

const NO_BODY: BodyFraming = { kind: 'none' };
const CHUNKED: BodyFraming = { kind: 'chunked' };

function lengthAndEncoding(head: HeadFacts): BodyFraming | undefined {
  if (head.chunked) return CHUNKED;
  if (head.contentLength !== undefined) return head.contentLength === 0 ? NO_BODY : { kind: 'length', length: head.contentLength };
  return undefined;
}

/**
 * RFC 9112 §6.3 for requests: no framing headers means no body. An upgrade carries no body: the
 * environment would read those bytes as the new protocol's.
 */
export function requestFraming(head: RequestHead): BodyFraming {
  const framing = lengthAndEncoding(head) ?? NO_BODY;
  if (framing !== NO_BODY && head.upgrade && head.connection.includes('upgrade')) throw bad('an upgrade request with a body');
  return framing;
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
  SizeMore,
  ExtName,
  ExtNameMore,
  ExtValue,
  ExtToken,
  ExtQuoted,
  ExtEscape,
  ExtQuotedEnd,
  SizeLf,
  Data,
  DataCr,
  DataLf,
  TrailerStart,
  TrailerName,
  TrailerValue,
  TrailerLf,
  EndLf,
  Done,
}

const MAX_CHUNK_LINE = 4096;
const MAX_TRAILERS = 16 * 1024;
/** Trailer names Node's parser refuses (framing) plus routing and hop-by-hop ones. */
const FORBIDDEN_TRAILERS = new Set(['content-length', 'transfer-encoding', 'host', 'connection']);

/**
 * Follows a chunked body through a byte stream without copying it, to find where it ends.
 * Bytes before that point are forwarded as they are; the other side parses the very same bytes,
 * so every byte is checked against the grammar (RFC 9112 §7.1): a size of hex digits only,
 * extensions `;name[=token|quoted-string]` without whitespace, trailers as strict as header lines.
 */
export class ChunkedScanner {
  private state = Chunk.Size;
  private remaining = 0;
  private sizeDigits = 0;
  private lineLength = 0;
  private trailerBytes = 0;
  private trailerName = '';

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
      if (this.state === Chunk.Data) {
        const take = Math.min(this.remaining, n - i);
        this.remaining -= take;
        i += take;
        if (this.remaining === 0) this.state = Chunk.DataCr;
        continue;
      }
      this.step(buf[i]);
      i++;
    }
    return i;
  }

  private step(c: number): void {
    const k = CLASS[c];
    switch (this.state) {
      case Chunk.Size:
      case Chunk.SizeMore:
        if (k & HEX) {
          if (++this.sizeDigits > 12) throw bad('chunk size too large');
          this.remaining = this.remaining * 16 + hexValue(c);
          this.state = Chunk.SizeMore;
        } else if (this.state === Chunk.SizeMore && c === 0x3b) this.state = Chunk.ExtName;
        else if (this.state === Chunk.SizeMore && c === CR) this.state = Chunk.SizeLf;
        else throw bad('malformed chunk size');
        return;
      case Chunk.ExtName:
      case Chunk.ExtNameMore:
        this.extByte();
        if (k & TCHAR) this.state = Chunk.ExtNameMore;
        else if (this.state === Chunk.ExtNameMore && c === 0x3d) this.state = Chunk.ExtValue;
        else if (this.state === Chunk.ExtNameMore && c === 0x3b) this.state = Chunk.ExtName;
        else if (this.state === Chunk.ExtNameMore && c === CR) this.state = Chunk.SizeLf;
        else throw bad('malformed chunk extension');
        return;
      case Chunk.ExtValue:
        this.extByte();
        if (k & TCHAR) this.state = Chunk.ExtToken;
        else if (c === 0x22) this.state = Chunk.ExtQuoted;
        else throw bad('malformed chunk extension');
        return;
      case Chunk.ExtToken:
        this.extByte();
        if (k & TCHAR) return;
        if (c === 0x3b) this.state = Chunk.ExtName;
        else if (c === CR) this.state = Chunk.SizeLf;
        else throw bad('malformed chunk extension');
        return;
      case Chunk.ExtQuoted:
        this.extByte();
        if (c === 0x22) this.state = Chunk.ExtQuotedEnd;
        else if (c === 0x5c) this.state = Chunk.ExtEscape;
        else if (!(k & QDTEXT)) throw bad('malformed chunk extension');
        return;
      case Chunk.ExtEscape:
        this.extByte();
        if (!(k & VALUE)) throw bad('malformed chunk extension');
        this.state = Chunk.ExtQuoted;
        return;
      case Chunk.ExtQuotedEnd:
        this.extByte();
        if (c === 0x3b) this.state = Chunk.ExtName;
        else if (c === CR) this.state = Chunk.SizeLf;
        else throw bad('malformed chunk extension');
        return;
      case Chunk.SizeLf:
        if (c !== LF) throw bad('malformed chunk size line');
        this.sizeDigits = 0;
        this.lineLength = 0;
        this.state = this.remaining === 0 ? Chunk.TrailerStart : Chunk.Data;
        return;
      case Chunk.DataCr:
        if (c !== CR) throw bad('chunk data longer than its size');
        this.state = Chunk.DataLf;
        return;
      case Chunk.DataLf:
        if (c !== LF) throw bad('malformed chunk end');
        this.state = Chunk.Size;
        return;
      case Chunk.TrailerStart:
        this.trailerByte();
        if (c === CR) this.state = Chunk.EndLf;
        else if (k & TCHAR) {
          this.trailerName = String.fromCharCode(c | 0x20);
          this.state = Chunk.TrailerName;
        } else throw bad('malformed trailer');
        return;
      case Chunk.TrailerName:
        this.trailerByte();
        if (k & TCHAR) {
          if (this.trailerName.length <= 17) this.trailerName += String.fromCharCode(c >= 0x41 && c <= 0x5a ? c | 0x20 : c);
        } else if (c === 0x3a) {
          if (FORBIDDEN_TRAILERS.has(this.trailerName)) throw bad(`${this.trailerName} in trailers`);
          this.state = Chunk.TrailerValue;
        } else throw bad('malformed trailer');
        return;
      case Chunk.TrailerValue:
        this.trailerByte();
        if (c === CR) this.state = Chunk.TrailerLf;
        else if (!(k & VALUE)) throw bad('malformed trailer');
        return;
      case Chunk.TrailerLf:
        if (c !== LF) throw bad('malformed trailer');
        this.state = Chunk.TrailerStart;
        return;
      case Chunk.EndLf:
        if (c !== LF) throw bad('malformed last chunk');
        this.state = Chunk.Done;
        return;
    }
  }

  private extByte(): void {
    if (++this.lineLength > MAX_CHUNK_LINE) throw bad('chunk extension too long');
  }

  private trailerByte(): void {
    if (++this.trailerBytes > MAX_TRAILERS) throw bad('trailers too large');
  }
}

function hexValue(c: number): number {
  if (c <= 0x39) return c - 0x30;
  return (c | 0x20) - 0x57;
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
