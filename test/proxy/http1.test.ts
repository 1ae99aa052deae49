import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { proxyHostName } from '../../src/mesh/routes';
import { scrubRequest, stripQueryToken } from '../../src/proxy/access';
import { formatAccessLogLine, MemoryAccessLog } from '../../src/proxy/access-log';
import { buildRequestHead, buildResponseHead, preflightHeaders, responseHeadIsPortable } from '../../src/proxy/forward-heads';
import { BodyTracker, findHeadEnd, HttpParseError, parseRequestHead, parseResponseHead, requestFraming, responseFraming } from '../../src/proxy/http1';
import { StaticRouteSource } from '../../src/proxy/route-source';
import { ProxyServer } from '../../src/proxy/server';
import { llhttpRequests } from './fuzz/oracle';
import { fetchVia, makeTlsFixture, tempDir, testSigner } from './support';

const req = (text: string) => {
  const buf = Buffer.from(text, 'latin1');
  return parseRequestHead(buf, findHeadEnd(buf));
};
const res = (text: string) => {
  const buf = Buffer.from(text, 'latin1');
  return parseResponseHead(buf, findHeadEnd(buf));
};
/** The status a refusal carries, or 0 when `fn` accepts. */
const statusOf = (fn: () => unknown) => {
  try {
    fn();
  } catch (err) {
    if (!(err instanceof HttpParseError)) throw err;
    return err.status;
  }
  return 0;
};
/** A request head with `lines` as its headers, then `requestFraming` on it. */
const framed = (lines: string, requestLine = 'POST / HTTP/1.1') => requestFraming(req(`${requestLine}\r\nHost: h.test\r\n${lines}\r\n`));
/** A chunked body through the scanner: where it ends, or the refusal. */
const chunked = (body: string) => {
  const tracker = new BodyTracker({ kind: 'chunked' });
  const end = tracker.take(Buffer.from(body, 'latin1'), 0);
  return { end, done: tracker.done };
};

describe('HTTP/1.1 heads', () => {
  it('parses a request head and the facts the proxy needs', () => {
    const head = req('GET /a?b=1 HTTP/1.1\r\nHost: x.test\r\nConnection: keep-alive, Upgrade\r\nUpgrade: websocket\r\nX-A: \t v \t\r\nX-B:\r\n\r\nrest');
    expect(head).toMatchObject({ method: 'GET', target: '/a?b=1', minor: 1, host: ['x.test'], connection: ['keep-alive', 'upgrade'], upgrade: true });
    expect(head.headers).toEqual(['Host', 'x.test', 'Connection', 'keep-alive, Upgrade', 'Upgrade', 'websocket', 'X-A', 'v', 'X-B', '']);
    expect(requestFraming(head)).toEqual({ kind: 'none' });
    // One empty line before a request (RFC 9112 §2.2) is ignored.
    expect(req('\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n').method).toBe('GET');
  });

  // Each class from issue 9: no hop-by-hop name may change framing or routing.
  it.each([
    ['Connection: content-length', 'Content-Length: 5'],
    ['Connection: Content-Length', 'Content-Length: 5'],
    ['Connection: keep-alive, content-length', 'Content-Length: 5'],
    ['Connection: close\r\nConnection: content-length', 'Content-Length: 5'],
    ['Connection: transfer-encoding', 'Transfer-Encoding: chunked'],
    ['Connection: \tTRANSFER-ENCODING ', 'Transfer-Encoding: chunked'],
    ['Connection: host', 'X-A: 1'],
    ['Connection: keep-alive,,Host', 'X-A: 1'],
    ['Connection: x-a\xa0', 'X-A: 1'],
    ['Connection: x/a', 'X-A: 1'],
  ])('refuses a request whose %j names a framing or routing header (400)', (connection, other) => {
    expect(statusOf(() => framed(`${other}\r\n${connection}\r\n`))).toBe(400);
  });

  it.each(['keep-alive', 'close', 'upgrade', 'te', 'x-hop', 'Keep-Alive, TE', ''])('accepts Connection: %j', (tokens) => {
    expect(statusOf(() => framed(`Content-Length: 1\r\nConnection: ${tokens}\r\n`))).toBe(0);
  });

  it('refuses an upgrade request with a body: the environment would read it as the new protocol', () => {
    expect(statusOf(() => framed('Connection: Upgrade\r\nUpgrade: websocket\r\nContent-Length: 5\r\n', 'GET / HTTP/1.1'))).toBe(400);
    expect(framed('Connection: Upgrade\r\nUpgrade: websocket\r\nContent-Length: 0\r\n', 'GET / HTTP/1.1')).toEqual({ kind: 'none' });
  });

  it.each([
    ['5, 5', 400],
    ['5,5', 400],
    ['5,', 400],
    ['', 400],
    ['+5', 400],
    ['-3', 400],
    ['0x5', 400],
    ['5 5', 400],
    ['\xa05', 400],
    ['5\xa0', 400],
    ['5\t', 400],
    ['\t5', 400],
    ['5\x0b', 400],
    ['9999999999999999', 400],
    ['99999999999999999999', 400],
  ])('refuses Content-Length: %j', (value, status) => {
    expect(statusOf(() => framed(`Content-Length: ${value}\r\n`))).toBe(status);
  });

  it.each([
    ['5', 5],
    [' 5 ', 5],
    ['005', 5],
    ['0', 0],
  ])('reads Content-Length: %j as %d', (value, length) => {
    expect(framed(`Content-Length:${value}\r\n`)).toEqual(length === 0 ? { kind: 'none' } : { kind: 'length', length });
  });

  it('refuses a second Content-Length, even an equal one, and Content-Length with Transfer-Encoding', () => {
    expect(statusOf(() => framed('Content-Length: 5\r\nContent-Length: 5\r\n'))).toBe(400);
    expect(statusOf(() => framed('Content-Length: 3\r\nTransfer-Encoding: chunked\r\n'))).toBe(400);
    expect(statusOf(() => framed('Transfer-Encoding: chunked\r\nContent-Length: 3\r\n'))).toBe(400);
  });

  it.each([
    ['chunked, chunked', 501],
    [', chunked', 501],
    ['chunked,', 501],
    ['chunked , ', 501],
    ['gzip, chunked', 501],
    ['identity', 501],
    ['chunked\xa0', 400],
    ['\xa0chunked', 400],
    ['chunked\t', 400],
    ['\tchunked', 400],
    ['chunked;q=1', 501],
    ['', 501],
  ])('refuses Transfer-Encoding: %j (%d)', (value, status) => {
    expect(statusOf(() => framed(`Transfer-Encoding: ${value}\r\n`))).toBe(status);
  });

  it('accepts a lone chunked in any case, but not twice and not from HTTP/1.0', () => {
    expect(framed('Transfer-Encoding: CHUNKED \r\n')).toEqual({ kind: 'chunked' });
    expect(statusOf(() => framed('Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n'))).toBe(501);
    expect(statusOf(() => framed('Transfer-Encoding: chunked\r\n', 'POST / HTTP/1.0'))).toBe(400);
  });

  it.each([
    ['a bare CR', 'X-A: v\rv'],
    ['a bare LF', 'X-A: v\nX-B: w'],
    ['a CR at the end', 'X-A: v\r'],
    ['NUL', 'X-A: v\x00v'],
    ['VT at an edge', 'X-A: \x0bv'],
    ['FF at an edge', 'X-A: v\x0c'],
    ['DEL', 'X-A: v\x7f'],
    ['NBSP at the start', 'X-A: \xa0v'],
    ['NBSP at the end', 'X-A: v\xa0'],
    ['NBSP after OWS', 'X-A: v \xa0 '],
    ['obs-fold', 'X-A: v\r\n folded'],
    ['a space before the colon', 'X-A : v'],
    ['an empty name', ': v'],
    ['a non-token name', 'X\xe9: v'],
    ['no colon', 'X-A v'],
  ])('refuses a header line with %s', (_what, line) => {
    expect(statusOf(() => req(`GET / HTTP/1.1\r\nHost: h\r\n${line}\r\n\r\n`))).toBe(400);
  });

  it('keeps obs-text inside values as it is (llhttp does), trimming only SP and HTAB', () => {
    expect(req('GET / HTTP/1.1\r\nHost: h\r\nX-A: \t caf\xe9 \xa0 au lait\t \r\n\r\n').headers[3]).toBe('caf\xe9 \xa0 au lait');
  });

  it.each([
    ['a control byte', 'GET /a\x01b HTTP/1.1', 400],
    ['DEL', 'GET /a\x7f HTTP/1.1', 400],
    ['a byte >= 0x80', 'GET /caf\xe9 HTTP/1.1', 400],
    ['HTAB', 'GET /a\tb HTTP/1.1', 400],
    ['two spaces', 'GET  / HTTP/1.1', 400],
    ['no leading slash', 'GET a HTTP/1.1', 400],
    ['an absolute-form target naming another host', 'GET http://evil.example/x HTTP/1.1', 400],
    ['an absolute-form target with userinfo', 'GET http://u@h.test/x HTTP/1.1', 400],
    ['an absolute-form target of another scheme', 'GET ftp://h.test/x HTTP/1.1', 400],
    ['an asterisk for GET', 'GET * HTTP/1.1', 400],
    ['authority-form (CONNECT)', 'CONNECT h.test:443 HTTP/1.1', 501],
    ['a lower-case method', 'get / HTTP/1.1', 400],
    ['an unknown method', 'FETCH / HTTP/1.1', 501],
    ['the HTTP/2 preface', 'PRI * HTTP/2.0', 501],
    ['HTTP/1.2', 'GET / HTTP/1.2', 505],
    ['HTTP/2.0', 'GET / HTTP/2.0', 505],
    ['HTTP/0.9', 'GET / HTTP/0.9', 505],
    ['a space after the version', 'GET / HTTP/1.1 ', 400],
  ])('refuses a request line with %s', (_what, line, status) => {
    expect(statusOf(() => req(`${line}\r\nHost: h.test\r\n\r\n`))).toBe(status);
  });

  it('accepts an absolute-form target for the Host it names, and passes it on in origin-form', () => {
    expect(req('GET http://h.test/x?y HTTP/1.1\r\nHost: h.test\r\n\r\n').target).toBe('/x?y');
    expect(req('GET HTTPS://H.TEST:443 HTTP/1.1\r\nHost: h.test:443\r\n\r\n').target).toBe('/');
    expect(req('GET https://h.test?q HTTP/1.1\r\nHost: h.test\r\n\r\n').target).toBe('/?q');
    expect(req('OPTIONS * HTTP/1.1\r\nHost: h.test\r\n\r\n').target).toBe('*');
    expect(req('M-SEARCH /x#frag HTTP/1.1\r\nHost: h.test\r\n\r\n').target).toBe('/x#frag');
  });

  it.each(['h.test:80x', 'h.test:', 'h.test:abc', 'h.test:123456', 'u@h.test', 'h.test/x', 'h test', 'h.test\xa0', '', '[::1', '[zz]:80', 'h.test:80:80'])(
    'refuses Host: %j',
    (host) => {
      expect(statusOf(() => req(`GET / HTTP/1.1\r\nHost: ${host}\r\n\r\n`))).toBe(400);
    },
  );

  it.each(['h.test', 'h.test:443', '3000--h-1.example.com', '[::1]:8080', '127.0.0.1', 'H_T.test'])('accepts Host: %j', (host) => {
    expect(req(`GET / HTTP/1.1\r\nHost: ${host}\r\n\r\n`).host).toEqual([host]);
  });

  it('refuses a second Host header', () => {
    expect(statusOf(() => req('GET / HTTP/1.1\r\nHost: h.test\r\nHost: h.test\r\n\r\n'))).toBe(400);
  });
});

describe('no stricter than needed: what the proxy accepts, llhttp (strict) accepts too', () => {
  const chunkedPost = (body: string) => `POST / HTTP/1.1\r\nHost: h.test\r\nTransfer-Encoding: chunked\r\n\r\n${body}`;
  it.each([
    ['leading empty line', '\r\nGET / HTTP/1.1\r\nHost: h.test\r\n\r\n'],
    ['normal Connection tokens', 'GET / HTTP/1.1\r\nHost: h.test\r\nConnection: keep-alive, TE, x-hop\r\n\r\n'],
    ['Content-Length with SP around it', 'POST / HTTP/1.1\r\nHost: h.test\r\nContent-Length:  5 \r\n\r\nhello'],
    ['Content-Length with leading zeros', 'POST / HTTP/1.1\r\nHost: h.test\r\nContent-Length: 005\r\n\r\nhello'],
    ['CHUNKED in capitals', 'POST / HTTP/1.1\r\nHost: h.test\r\nTransfer-Encoding: CHUNKED \r\n\r\n0\r\n\r\n'],
    ['obs-text and NBSP inside a value', 'GET / HTTP/1.1\r\nHost: h.test\r\nX-A: \tcaf\xe9 \xa0 au lait\t\r\n\r\n'],
    ['an empty value', 'GET / HTTP/1.1\r\nHost: h.test\r\nX-A:\r\n\r\n'],
    ['absolute-form for the same host', 'GET http://h.test/x?y HTTP/1.1\r\nHost: h.test\r\n\r\n'],
    ['OPTIONS *', 'OPTIONS * HTTP/1.1\r\nHost: h.test\r\n\r\n'],
    ['a fragment and odd visible bytes in the target', 'GET /{a}|^`"<>\\#f HTTP/1.1\r\nHost: h.test\r\n\r\n'],
    ['an IPv6 Host with a port', 'GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n'],
    ['HTTP/1.0 with Content-Length', 'POST / HTTP/1.0\r\nHost: h.test\r\nContent-Length: 2\r\n\r\nhi'],
    ['hex sizes in capitals and leading zeros', chunkedPost('A\r\n0123456789\r\n0005\r\nhello\r\n0\r\n\r\n')],
    ['chunk extensions', chunkedPost('5;a=b;c="d \\" e";f\r\nhello\r\n0;z=1\r\n\r\n')],
    ['trailers', chunkedPost('0\r\nX-T: v\r\nX-U:\tw\t\r\n\r\n')],
    ['two pipelined requests', 'GET /1 HTTP/1.1\r\nHost: h.test\r\n\r\nGET /2 HTTP/1.1\r\nHost: h.test\r\n\r\n'],
  ])('%s', (_what, text) => {
    const bytes = Buffer.from(text, 'latin1');
    let offset = 0;
    let ours = 0;
    while (offset < bytes.length) {
      const rest = bytes.subarray(offset);
      const end = findHeadEnd(rest);
      const tracker = new BodyTracker(requestFraming(parseRequestHead(rest, end)));
      offset += tracker.take(rest, end);
      expect(tracker.done).toBe(true);
      ours++;
    }
    expect(llhttpRequests(bytes)).toEqual({ completed: ours });
  });
});

describe('HTTP/1.1 response heads (from environments: a refusal becomes 502)', () => {
  it('frames responses by method and status (RFC 9112 §6.3)', () => {
    const ok = res('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n');
    expect(responseFraming(ok, 'GET')).toEqual({ kind: 'length', length: 5 });
    expect(responseFraming(ok, 'HEAD')).toEqual({ kind: 'none' });
    expect(responseFraming(res('HTTP/1.1 304 Not Modified\r\n\r\n'), 'GET')).toEqual({ kind: 'none' });
    expect(responseFraming(res('HTTP/1.1 200 OK\r\n\r\n'), 'GET')).toEqual({ kind: 'close' });
    expect(responseFraming(res('HTTP/1.1 200\r\nTransfer-Encoding: chunked\r\n\r\n'), 'GET')).toEqual({ kind: 'chunked' });
    expect(responseHeadIsPortable(ok)).toBe(true);
    expect(responseHeadIsPortable(res('HTTP/1.1 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 0\r\n\r\n'))).toBe(true);
    expect(responseHeadIsPortable(res('HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\n\r\n'))).toBe(false);
    expect(responseHeadIsPortable(res('HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n'))).toBe(false);
    expect(responseHeadIsPortable(res('HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n'))).toBe(false);
    const keepAlive = res('HTTP/1.1 200 OK\r\nConnection: keep-alive, X-Hop\r\nKeep-Alive: timeout=5\r\nX-Hop: 1\r\nX-End: 2\r\n\r\n');
    expect(responseHeadIsPortable(keepAlive)).toBe(false);
    expect(buildResponseHead(keepAlive, false)).toBe('HTTP/1.1 200 OK\r\nX-End: 2\r\n\r\n');
    expect(buildResponseHead(keepAlive, true)).toBe('HTTP/1.1 200 OK\r\nX-End: 2\r\nConnection: close\r\n\r\n');
  });

  it.each([
    ['Connection naming Content-Length', 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: content-length'],
    ['Connection naming Transfer-Encoding', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: Transfer-Encoding'],
    ['a Content-Length list', 'HTTP/1.1 200 OK\r\nContent-Length: 5, 5'],
    ['two Content-Lengths', 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5'],
    ['Content-Length with Transfer-Encoding', 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked'],
    ['a Transfer-Encoding list', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked'],
    ['chunked in HTTP/1.0', 'HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked'],
    ['NBSP at a value edge', 'HTTP/1.1 200 OK\r\nX-A: \xa0v'],
    ['a control byte in the reason', 'HTTP/1.1 200 O\x00K'],
    ['a two-digit status', 'HTTP/1.1 20 OK'],
    ['a status without a space', 'HTTP/1.1 200OK'],
    ['HTTP/2.0', 'HTTP/2.0 200 OK'],
  ])('refuses a response with %s', (_what, head) => {
    expect(statusOf(() => res(`${head}\r\n\r\n`))).not.toBe(0);
  });
});

describe('chunked bodies', () => {
  it('follows a chunked body split anywhere and stops exactly at its end', () => {
    const body = Buffer.from('5;ext=1;q="a \\" b"\r\nhello\r\n0\r\nTrailer: t\r\n\r\nNEXT', 'latin1');
    const bodyLength = body.length - 4;
    for (let split = 0; split <= bodyLength; split++) {
      const tracker = new BodyTracker({ kind: 'chunked' });
      const first = tracker.take(body.subarray(0, split), 0);
      expect(first).toBe(split);
      const rest = body.subarray(split);
      expect(split + tracker.take(rest, 0)).toBe(bodyLength);
      expect(tracker.done).toBe(true);
    }
  });

  it.each([
    ['5\r\nhello\r\n0\r\n\r\n'],
    ['A\r\n0123456789\r\n0\r\n\r\n'],
    ['0005\r\nhello\r\n0\r\n\r\n'],
    ['5;a\r\nhello\r\n0\r\n\r\n'],
    ['5;a=b;c="d e"\r\nhello\r\n0;z=1\r\n\r\n'],
    ['5;a="\\""\r\nhello\r\n0\r\n\r\n'],
    ['5;a="caf\xe9"\r\nhello\r\n0\r\n\r\n'],
    ['0\r\nX-T: v\r\nX-U:\tw\t\r\n\r\n'],
  ])('accepts the chunked body %j', (body) => {
    expect(chunked(body)).toEqual({ end: Buffer.byteLength(body, 'latin1'), done: true });
  });

  it.each([
    ['a space after the size', '5 \r\nhello\r\n0\r\n\r\n'],
    ['a space before the size', ' 5\r\nhello\r\n0\r\n\r\n'],
    ['HTAB after the size', '5\t\r\nhello\r\n0\r\n\r\n'],
    ['junk after the size', '5x\r\nhello\r\n0\r\n\r\n'],
    ['a 0x prefix', '0x5\r\nhello\r\n0\r\n\r\n'],
    ['NUL after the size', '5\x00\r\nhello\r\n0\r\n\r\n'],
    ['an empty size', '\r\nhello\r\n0\r\n\r\n'],
    ['a size too large', '1000000000000\r\n'],
    ['LF alone after the size', '5\nhello\r\n0\r\n\r\n'],
    ['data longer than its size', '5\r\nhelloX\r\n0\r\n\r\n'],
    ['LF alone after the data', '5\r\nhello\n0\r\n\r\n'],
    ['NUL in an extension name', '5;a\x00=b\r\nhello\r\n0\r\n\r\n'],
    ['NUL in an extension value', '5;a=\x00\r\nhello\r\n0\r\n\r\n'],
    ['a control byte in a quoted extension', '5;a="\x01"\r\nhello\r\n0\r\n\r\n'],
    ['whitespace in an extension', '5; a=b\r\nhello\r\n0\r\n\r\n'],
    ['whitespace around =', '5;a =b\r\nhello\r\n0\r\n\r\n'],
    ['an empty extension name', '5;=b\r\nhello\r\n0\r\n\r\n'],
    ['an empty extension value', '5;a=\r\nhello\r\n0\r\n\r\n'],
    ['a trailing ;', '5;\r\nhello\r\n0\r\n\r\n'],
    ['an unterminated quoted extension', '5;a="b\r\nhello\r\n0\r\n\r\n'],
    ['a trailer without a colon', '0\r\nX-T v\r\n\r\n'],
    ['a trailer name with a space', '0\r\nX T: v\r\n\r\n'],
    ['an empty trailer name', '0\r\n: v\r\n\r\n'],
    ['a folded trailer', '0\r\nX-T: v\r\n w\r\n\r\n'],
    ['NUL in a trailer', '0\r\nX-T: v\x00\r\n\r\n'],
    ['LF alone in a trailer', '0\r\nX-T: v\n\r\n'],
    ['LF alone at the end', '0\r\n\n'],
    ['a Content-Length trailer', '0\r\nContent-Length: 5\r\n\r\n'],
    ['a Transfer-Encoding trailer', '0\r\ntransfer-encoding: chunked\r\n\r\n'],
    ['a Host trailer', '0\r\nHost: x\r\n\r\n'],
  ])('refuses a chunked body with %s', (_what, body) => {
    expect(statusOf(() => chunked(body))).toBe(400);
  });
});

describe('forwarded heads', () => {
  const fwd = { minor: 1, clientIp: '10.0.0.1', host: 'h:8443', upgrade: false };

  it('drops hop-by-hop headers and what the client claims about itself, then says who the client is', () => {
    const head = req(
      'GET / HTTP/1.1\r\nHost: h:8443\r\nConnection: close, X-Secret\r\nX-Secret: 1\r\nKeep-Alive: 5\r\nTE: trailers\r\nProxy-Connection: x\r\n' +
        'X-Forwarded-For: 6.6.6.6\r\nX-Forwarded-Host: evil\r\nx-forwarded-port: 1\r\nX-FORWARDED-PREFIX: /admin\r\nForwarded: for=6.6.6.6\r\n' +
        'X-Real-IP: 6.6.6.6\r\nTrue-Client-IP: 6.6.6.6\r\nX-Original-URL: /admin\r\nX-Rewrite-URL: /admin\r\nX-Gateway-User: root\r\nx-gateway-anything: 1\r\n' +
        'X_Forwarded_For: 6.6.6.6\r\nx_real_ip: 6.6.6.6\r\nX_Gateway_User: root\r\nAccept: */*\r\nX-Forwarded: for=6.6.6.6\r\nForwarded-Thing: kept\r\n' +
        'Client-IP: 6.6.6.6\r\nX-Client-IP: 6.6.6.6\r\nX-Cluster-Client-IP: 6.6.6.6\r\nCF-Connecting-IP: 6.6.6.6\r\nFastly-Client-IP: 6.6.6.6\r\n' +
        'X-Original-Host: evil\r\nX-Host: evil\r\nx_client_ip: 6.6.6.6\r\nX-Client-IP-Note: kept\r\n\r\n',
    );
    expect(buildRequestHead('GET', '/', head.headers, head.connection, fwd)).toBe(
      'GET / HTTP/1.1\r\nHost: h:8443\r\nAccept: */*\r\nForwarded-Thing: kept\r\nX-Client-IP-Note: kept\r\n' +
        'X-Forwarded-For: 10.0.0.1\r\nX-Forwarded-Proto: https\r\nX-Forwarded-Host: h:8443\r\n\r\n',
    );
  });

  it('keeps only Host, Origin and Access-Control-Request-* of an anonymous preflight, in their order and spelling', () => {
    const head = req(
      'OPTIONS /x HTTP/1.1\r\nUser-Agent: a\r\nHOST: h\r\nAccept: */*\r\norigin: https://o.example\r\nAccess-Control-Request-Method: PUT\r\n' +
        'Cookie: c=1\r\nAccess-Control-Request-Headers: x-a\r\nAccess-Control-Request-Private-Network: true\r\nAccess-Control-Allow-Origin: *\r\n\r\n',
    );
    expect(preflightHeaders(head.headers)).toEqual([
      'HOST', 'h',
      'origin', 'https://o.example',
      'Access-Control-Request-Method', 'PUT',
      'Access-Control-Request-Headers', 'x-a',
      'Access-Control-Request-Private-Network', 'true',
    ]);
  });

  it('keeps framing headers and the body framing as they came, and Upgrade only for an upgrade', () => {
    const head = req('POST / HTTP/1.1\r\nHost: h\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\nUpgrade: h2c\r\n\r\n');
    expect(buildRequestHead('POST', '/', head.headers, head.connection, { ...fwd, host: 'h' })).toBe(
      'POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nX-Forwarded-For: 10.0.0.1\r\nX-Forwarded-Proto: https\r\nX-Forwarded-Host: h\r\n\r\n',
    );
    const ws = req('GET / HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n');
    expect(buildRequestHead('GET', '/', ws.headers, ws.connection, { ...fwd, host: 'h', upgrade: true })).toBe(
      'GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nX-Forwarded-For: 10.0.0.1\r\nX-Forwarded-Proto: https\r\nX-Forwarded-Host: h\r\n\r\n',
    );
  });
});

/**
 * Issue 9's chain end to end: a body framed by Content-Length whose framing header the request
 * names in `Connection`. Before, the proxy framed the body by Content-Length, dropped the header,
 * and the environment read the body as a second request on a pooled connection; the next visitor
 * on that connection got the smuggled request's response.
 */
describe('request smuggling through hop-by-hop names, end to end', () => {
  const DOMAIN = 'smuggle.test';
  const tmp = tempDir('proxy-smuggle-');
  const tls = makeTlsFixture(tmp.dir, DOMAIN);
  const seen: string[] = [];
  let app: Server;
  let proxy: ProxyServer;
  let proxyPort: number;
  let hostName: string;

  beforeAll(async () => {
    app = createServer((r: IncomingMessage, w) => {
      seen.push(`${r.method} ${r.url}`);
      if (r.url === '/headers') {
        w.end(JSON.stringify(r.rawHeaders));
        return;
      }
      r.resume();
      r.on('end', () => w.end(`answer to ${r.method} ${r.url}`));
    });
    await new Promise<void>((r) => app.listen(0, '127.0.0.1', () => r()));
    const appPort = (app.address() as AddressInfo).port;
    hostName = proxyHostName(appPort, 'h1', DOMAIN);
    proxy = new ProxyServer({
      domain: DOMAIN,
      tls: { cert: tls.cert, key: tls.key },
      routes: new StaticRouteSource({
        version: '1',
        routes: [{ hostId: 'h1', ip: '127.0.0.1', owner: { subject: 'a', organization: 'o' }, ports: [{ port: appPort, access: 'public', protocol: 'http' }] }],
      }),
      tokenPublicKey: testSigner().publicKey,
      accessLog: new MemoryAccessLog(),
    });
    proxyPort = (await proxy.listen(0, '127.0.0.1')).port;
  });

  afterAll(async () => {
    await proxy?.close();
    app?.closeAllConnections();
    await new Promise((r) => app?.close(r));
    tmp.cleanup();
  });

  /** Sends raw bytes over TLS and collects everything until the proxy closes the connection. */
  function raw(bytes: string): Promise<string> {
    return new Promise((resolve, reject) => {
      const socket = tlsConnect({ host: '127.0.0.1', port: proxyPort, ca: tls.ca, servername: hostName }, () => socket.write(bytes, 'latin1'));
      const chunks: Buffer[] = [];
      socket.on('data', (c: Buffer) => chunks.push(c));
      socket.on('error', reject);
      socket.on('close', () => resolve(Buffer.concat(chunks).toString('latin1')));
    });
  }

  const smuggled = (h: string) => `GET /smuggled HTTP/1.1\r\nHost: ${h}\r\n\r\n`;
  it.each([
    ['Connection: content-length', (h: string) => `Content-Length: ${smuggled(h).length}\r\nConnection: content-length\r\n\r\n${smuggled(h)}`],
    ['Connection: keep-alive, Content-Length', (h: string) => `Content-Length: ${smuggled(h).length}\r\nConnection: keep-alive, Content-Length\r\n\r\n${smuggled(h)}`],
    [
      'Connection: transfer-encoding',
      (h: string) => `Transfer-Encoding: chunked\r\nConnection: transfer-encoding\r\n\r\n${smuggled(h).length.toString(16)}\r\n${smuggled(h)}\r\n0\r\n\r\n`,
    ],
    ['Connection: host', (h: string) => `Content-Length: 0\r\nConnection: host\r\n\r\n`],
  ])('refuses %s with 400, and the next visitor on the pooled connection gets their own answer', async (_what, rest) => {
    const before = seen.length;
    // A visitor first, so that the environment connection is pooled and reused.
    const first = await fetchVia(proxyPort, tls.ca, hostName, '/visitor-1');
    expect(first.body).toBe('answer to GET /visitor-1');

    const attack = await raw(`POST /attack HTTP/1.1\r\nHost: ${hostName}\r\n${rest(hostName)}`);
    expect(attack).toMatch(/^HTTP\/1\.1 400 /);
    expect(attack).not.toContain('answer to');

    const second = await fetchVia(proxyPort, tls.ca, hostName, '/visitor-2', { method: 'POST', body: 'mine' });
    expect(second.body).toBe('answer to POST /visitor-2');
    expect(seen.slice(before)).toEqual(['GET /visitor-1', 'POST /visitor-2']);
  });

  it("sends the client's Host, port included, as X-Forwarded-Host, and none of the client's own forwarding claims", async () => {
    const claims = {
      forwarded: 'for=6.6.6.6;host=evil.example',
      'x-forwarded-for': '6.6.6.6',
      'x-forwarded-host': 'evil.example',
      'x-forwarded-prefix': '/admin',
      'x-real-ip': '6.6.6.6',
      'true-client-ip': '6.6.6.6',
      'x-original-url': '/admin',
      'x-rewrite-url': '/admin',
      'x-gateway-user': 'root',
      'x_forwarded_for': '6.6.6.6',
      'x-client-ip': '6.6.6.6',
      'cf-connecting-ip': '6.6.6.6',
      'x-host': 'evil.example',
    };
    const reply = await fetchVia(proxyPort, tls.ca, `${hostName}:8443`, '/headers', { servername: hostName, headers: claims });
    const headers: string[] = JSON.parse(reply.body);
    const pairs = headers.flatMap((v, i) => (i % 2 === 0 ? [`${v.toLowerCase()}: ${headers[i + 1]}`] : []));
    expect(pairs.filter((p) => /forwarded|real-ip|client-ip|connecting-ip|original|rewrite|gateway|x-host|x_/.test(p))).toEqual([
      'x-forwarded-for: 127.0.0.1',
      'x-forwarded-proto: https',
      `x-forwarded-host: ${hostName}:8443`,
    ]);
    expect(pairs).toContain(`host: ${hostName}:8443`);
  });

  it('never forwards a pipelined request after a refused one: the connection closes at the refusal', async () => {
    const before = seen.length;
    const reply = await raw(
      `GET /ok HTTP/1.1\r\nHost: ${hostName}\r\n\r\n` +
        `POST /attack HTTP/1.1\r\nHost: ${hostName}\r\nContent-Length: ${smuggled(hostName).length}\r\nConnection: content-length\r\n\r\n${smuggled(hostName)}` +
        `GET /after HTTP/1.1\r\nHost: ${hostName}\r\n\r\n`,
    );
    expect(reply.match(/HTTP\/1\.1 \d{3} /g)).toEqual(['HTTP/1.1 200 ', 'HTTP/1.1 400 ']);
    expect(seen.slice(before)).toEqual(['GET /ok']);
  });
});

describe('token scrubbing', () => {
  it('finds the token in header, Authorization, query or cookie and removes it from all of them', () => {
    const jwt = 'eyJhbGciOiJFZERTQSIsInR5cCI6ImdhdGV3YXktYWNjZXNzK2p3dCJ9.e30.c2ln';
    const s = scrubRequest(`/p?x=1&gateway_token=${jwt}`, ['Authorization', `Bearer ${jwt}`, 'Cookie', `a=1; __Host-gateway-token=${jwt}; b=2`, 'Accept', '*/*']);
    expect(s).toEqual({ token: jwt, source: 'authorization', target: '/p?x=1', headers: ['Cookie', 'a=1; b=2', 'Accept', '*/*'] });
    expect(scrubRequest('/', ['Cookie', `__Host-gateway-token=${jwt}`])).toEqual({ token: jwt, source: 'cookie', target: '/', headers: [] });
    expect(stripQueryToken('/a?gateway_token=t')).toEqual({ target: '/a', token: 't' });
    expect(stripQueryToken('/a?xgateway_token=t')).toEqual({ target: '/a?xgateway_token=t', token: undefined });
  });
});

describe('access log line', () => {
  it('is the entry as JSON, with awkward characters escaped', () => {
    const entry = { time: '2026-01-01T00:00:00.000Z', client: '1.2.3.4', subject: 'a"b', organization: 'o', host: 'h', hostId: 'x', port: 3000, method: 'GET', path: '/\n\\', status: 200, durationMs: 1.5 };
    expect(JSON.parse(formatAccessLogLine(entry))).toEqual(entry);
    const minimal = { time: 't', client: 'c', host: 'h', method: 'GET', path: '/', status: 404, durationMs: 0, reason: 'unknown-host' };
    expect(JSON.parse(formatAccessLogLine(minimal))).toEqual(minimal);
  });
});
