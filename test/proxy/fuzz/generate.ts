/**
 * Seeded generation of HTTP/1.1 messages for the differential fuzzer: a valid request (or
 * response), then a few mutations aimed at the places parsers disagree (framing headers,
 * whitespace at value edges, chunk lines, Connection lists, pipelining). Pure: the same seed
 * gives the same bytes, so every failure can be replayed from the corpus.
 */

/** sfc32: small, fast, and good enough to spread mutations; seeded from one 32-bit number. */
export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: number) {
    this.a = 0x9e3779b9;
    this.b = 0x243f6a88;
    this.c = 0xb7e15162;
    this.d = seed >>> 0;
    for (let i = 0; i < 12; i++) this.next();
  }

  next(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return (t >>> 0) / 4294967296;
  }

  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)];
  }

  chance(p: number): boolean {
    return this.next() < p;
  }
}

/** Bytes that separate, end or hide things in HTTP/1.1. */
const NASTY = ['\r', '\n', '\r\n', '\x00', ' ', '\t', '\x0b', '\x0c', '\xa0', ',', ';', ':', '"', '\x7f', '\x80', '\xff', '=', '/', '\\'];
const METHODS = ['GET', 'GET', 'POST', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'PATCH'];
const CONNECTION_TOKENS = ['keep-alive', 'close', 'upgrade', 'te', 'content-length', 'Content-Length', 'transfer-encoding', 'host', 'x-hop', 'keep-alive, content-length', ' close ', ''];
const CL_VARIANTS = (n: number) => [`${n}`, `${n}, ${n}`, ` ${n}`, `${n} `, `\t${n}`, `${n}\t`, `+${n}`, `0${n}`, '', `${n + 1}`, `${Math.max(0, n - 1)}`, `\xa0${n}`, `${n}\xa0`, `${n} ${n}`, '99999999999999999999', `${n},`];
const TE_VARIANTS = ['chunked', 'Chunked', 'CHUNKED', ' chunked', 'chunked ', '\tchunked', 'chunked\t', 'chunked, chunked', ', chunked', 'chunked,', 'gzip, chunked', 'identity', 'chunked\xa0', '\xa0chunked', 'chunked;q=1', 'xchunked', ''];
const SIZE_SUFFIXES = [' ', '\t', ';', ';a', ';a=b', ';a="b c"', '; a=b', ';a =b', ';a=\x00', ';a="\x01"', ';=b', ';a=', 'x', '\x00', ' ;a', ';a="\\""', ';a;b=c'];
const HOST_VARIANTS = (h: string) => [h, `${h}:443`, `${h}:443x`, `${h}:`, `${h}:abc`, `${h}@evil.example`, `${h}/x`, `${h} x`, h.toUpperCase(), '', `evil.example`, `${h}:99999`, `[::1]`, `${h}.`, `${h}\xa0`];

/** A request as parts, so that structure-aware mutations can act before the bytes are joined. */
interface Draft {
  method: string;
  target: string;
  version: string;
  headers: [string, string][];
  body: string;
  /** Raw bytes after the head: the body as framed (chunked or not). */
  framedBody: string;
}

function randomText(rng: Rng, min: number, max: number): string {
  const n = min + rng.int(max - min + 1);
  let s = '';
  for (let i = 0; i < n; i++) s += 'abcdefghijklmnopqrstuvwxyz0123456789-_'[rng.int(38)];
  return s;
}

function chunkedBody(rng: Rng, body: string): string {
  let out = '';
  let i = 0;
  while (i < body.length) {
    const n = 1 + rng.int(Math.min(12, body.length - i));
    const size = rng.chance(0.2) ? n.toString(16).toUpperCase() : n.toString(16);
    out += `${size}${rng.chance(0.1) ? ';ext=1' : ''}\r\n${body.slice(i, i + n)}\r\n`;
    i += n;
  }
  out += '0\r\n';
  if (rng.chance(0.2)) out += 'X-Trailer: t\r\n';
  return `${out}\r\n`;
}

function draftRequest(rng: Rng, host: string): Draft {
  const method = rng.pick(METHODS);
  const target = `/${randomText(rng, 0, 8)}${rng.chance(0.3) ? `?q=${randomText(rng, 1, 6)}` : ''}`;
  const version = rng.chance(0.1) ? 'HTTP/1.0' : 'HTTP/1.1';
  const headers: [string, string][] = [['Host', host]];
  if (rng.chance(0.5)) headers.push(['User-Agent', 'fuzz/1']);
  if (rng.chance(0.4)) headers.push(['Accept', '*/*']);
  if (rng.chance(0.3)) headers.push(['X-Note', randomText(rng, 1, 10)]);
  if (rng.chance(0.3)) headers.push(['Connection', rng.pick(['keep-alive', 'close', 'keep-alive, x-hop'])]);
  if (rng.chance(0.05)) headers.push(['Expect', '100-continue']);
  let body = '';
  let framedBody = '';
  const framing = rng.int(3);
  if (framing > 0 || method === 'POST' || method === 'PUT') {
    body = randomText(rng, 0, 24);
    if (framing === 2 && version === 'HTTP/1.1') {
      headers.push(['Transfer-Encoding', 'chunked']);
      framedBody = chunkedBody(rng, body);
    } else {
      headers.push(['Content-Length', String(body.length)]);
      framedBody = body;
    }
  }
  return { method, target, version, headers, body, framedBody };
}

function serialize(d: Draft): string {
  return `${d.method} ${d.target} ${d.version}\r\n${d.headers.map(([n, v]) => `${n}: ${v}\r\n`).join('')}\r\n${d.framedBody}`;
}

const findHeader = (d: Draft, name: string) => d.headers.findIndex(([n]) => n.toLowerCase() === name);

/** Mutations that know the message's structure. */
const STRUCTURAL: ((rng: Rng, d: Draft, host: string) => void)[] = [
  (rng, d) => d.headers.push(['Connection', rng.pick(CONNECTION_TOKENS)]),
  (rng, d) => {
    const i = findHeader(d, 'content-length');
    if (i >= 0) d.headers[i][1] = rng.pick(CL_VARIANTS(d.body.length));
    else d.headers.push(['Content-Length', rng.pick(CL_VARIANTS(d.framedBody.length))]);
  },
  (rng, d) => {
    const i = findHeader(d, 'transfer-encoding');
    if (i >= 0) d.headers[i][1] = rng.pick(TE_VARIANTS);
    else {
      d.headers.push(['Transfer-Encoding', rng.pick(TE_VARIANTS)]);
      if (rng.chance(0.7)) d.framedBody = chunkedBody(rng, d.body || 'abc');
    }
  },
  (rng, d) => {
    // Content-Length and Transfer-Encoding together, either order.
    const cl: [string, string] = ['Content-Length', String(rng.int(8))];
    const te: [string, string] = ['Transfer-Encoding', 'chunked'];
    d.headers.push(...(rng.chance(0.5) ? [cl, te] : [te, cl]));
    d.framedBody = chunkedBody(rng, d.body || 'abc');
  },
  (rng, d) => {
    // A chunk-size line with a suffix, or a wrong size.
    const lines = d.framedBody.split('\r\n');
    const sizeLines = lines.map((l, i) => i).filter((i) => /^[0-9a-fA-F]+(;ext=1)?$/.test(lines[i]));
    if (sizeLines.length === 0) return;
    const i = rng.pick(sizeLines);
    if (rng.chance(0.7)) lines[i] = lines[i].replace(/;ext=1$/, '') + rng.pick(SIZE_SUFFIXES);
    else lines[i] = (parseInt(lines[i], 16) + rng.pick([-1, 1, 16])).toString(16);
    d.framedBody = lines.join('\r\n');
  },
  (rng, d) => {
    // Trailer lines, good and bad.
    if (!d.framedBody.endsWith('0\r\n\r\n')) return;
    const trailer = rng.pick(['X-T: v', 'X-T:v', 'X T: v', 'X-T v', ': v', 'Content-Length: 5', 'Transfer-Encoding: chunked', 'X-T: v\x00', ' X-T: v', 'X-T:\tv\t', 'Host: x']);
    d.framedBody = `${d.framedBody.slice(0, -2)}${trailer}\r\n\r\n`;
  },
  (rng, d, host) => {
    const i = findHeader(d, 'host');
    if (i >= 0) d.headers[i][1] = rng.pick(HOST_VARIANTS(host));
  },
  (rng, d) => {
    if (d.headers.length === 0) return;
    const i = rng.int(d.headers.length);
    if (rng.chance(0.5)) d.headers.splice(i, 0, [d.headers[i][0], d.headers[i][1]]);
    else d.headers.splice(i, 1);
  },
  (rng, d) => {
    // Whitespace or a separator at an edge of a header value (or in the name).
    if (d.headers.length === 0) return;
    const h = d.headers[rng.int(d.headers.length)];
    const b = rng.pick(NASTY);
    const where = rng.int(4);
    if (where === 0) h[1] = b + h[1];
    else if (where === 1) h[1] = h[1] + b;
    else if (where === 2) h[0] = h[0] + b;
    else h[0] = b + h[0];
  },
  (rng, d, host) => {
    d.target = rng.pick([`http://${host}${d.target}`, `https://${host}${d.target}`, `http://evil.example${d.target}`, '*', `//${host}/x`, `${d.target}#frag`, `${d.target}\x01`, `${d.target}\x7f`, `${d.target}\xe9`, `HTTP://${host.toUpperCase()}`, `http://${host}?a`]);
  },
  (rng, d) => {
    d.version = rng.pick(['HTTP/1.0', 'HTTP/1.2', 'HTTP/2.0', 'HTTP/0.9', 'http/1.1', 'HTTP/1.1 ', 'HTTP/1.10']);
  },
  (rng, d) => {
    d.method = rng.pick(['get', 'GETT', 'CONNECT', 'PRI', 'M-SEARCH', 'PROPFIND', 'G ET', 'TRACE', 'HEAD']);
  },
];

/** Byte-level mutations of the joined message. */
function mutateBytes(rng: Rng, s: string): string {
  const at = rng.int(s.length + 1);
  switch (rng.int(4)) {
    case 0:
      return s.slice(0, at) + rng.pick(NASTY) + s.slice(at);
    case 1:
      return s.slice(0, at) + s.slice(at + 1);
    case 2:
      return s.slice(0, at) + String.fromCharCode(rng.int(256)) + s.slice(at + 1);
    default: {
      // Next to a line break, where most disagreements live.
      const crlf = [...s.matchAll(/\r\n/g)].map((m) => m.index!);
      if (crlf.length === 0) return s;
      const i = rng.pick(crlf) + rng.int(3) - 1;
      return s.slice(0, i) + rng.pick(NASTY) + s.slice(i);
    }
  }
}

/** One request case: one to three pipelined requests to `host`, mutated. */
export function requestCase(seed: number, host: string): string {
  const rng = new Rng(seed);
  const count = rng.chance(0.35) ? 2 + rng.int(2) : 1;
  let out = '';
  for (let r = 0; r < count; r++) {
    const d = draftRequest(rng, host);
    const structural = rng.int(3);
    for (let m = 0; m < structural; m++) rng.pick(STRUCTURAL)(rng, d, host);
    let bytes = serialize(d);
    const flips = rng.chance(0.5) ? rng.int(3) : 0;
    for (let m = 0; m < flips; m++) bytes = mutateBytes(rng, bytes);
    // An empty line between pipelined requests, as old clients send after a body.
    out += (r > 0 && rng.chance(0.1) ? '\r\n' : '') + bytes;
  }
  return out;
}

const STATUSES = ['200 OK', '201 Created', '204 No Content', '206 Partial Content', '301 Moved', '304 Not Modified', '404 Not Found', '500 Oops', '100 Continue'];

/** One response case: a response (perhaps after a 1xx) an environment sends, mutated. */
export function responseCase(seed: number): string {
  const rng = new Rng(seed);
  let status = rng.pick(STATUSES);
  // An interim response first, then the final one.
  const interim = status.startsWith('100') ? 'HTTP/1.1 100 Continue\r\n\r\n' : '';
  if (interim) status = '200 OK';
  const version = rng.chance(0.15) ? 'HTTP/1.0' : 'HTTP/1.1';
  const body = randomText(rng, 0, 30);
  const headers: [string, string][] = [['Content-Type', 'text/plain']];
  if (rng.chance(0.4)) headers.push(['X-App', randomText(rng, 1, 8)]);
  let framedBody = body;
  const framing = rng.int(3);
  if (framing === 0) headers.push(['Content-Length', String(body.length)]);
  else if (framing === 1 && version === 'HTTP/1.1') {
    headers.push(['Transfer-Encoding', 'chunked']);
    framedBody = chunkedBody(rng, body);
  }
  const d: Draft = { method: 'GET', target: '/', version, headers, body, framedBody };
  const structural = rng.int(3);
  for (let m = 0; m < structural; m++) rng.pick(STRUCTURAL.slice(0, 9))(rng, d, 'h');
  let out = `${interim}${version} ${status}\r\n${d.headers.map(([n, v]) => `${n}: ${v}\r\n`).join('')}\r\n${d.framedBody}`;
  if (rng.chance(0.15)) out += 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nextra';
  const flips = rng.chance(0.5) ? rng.int(3) : 0;
  for (let m = 0; m < flips; m++) out = mutateBytes(rng, out);
  return out;
}
