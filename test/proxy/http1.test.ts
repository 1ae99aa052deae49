import { buildRequestHead, buildResponseHead, responseHeadIsPortable } from '../../src/proxy/forward-heads';
import { BodyTracker, findHeadEnd, HttpParseError, parseRequestHead, parseResponseHead, requestFraming, responseFraming } from '../../src/proxy/http1';
import { scrubRequest, stripQueryToken } from '../../src/proxy/access';
import { formatAccessLogLine } from '../../src/proxy/access-log';

const req = (text: string) => {
  const buf = Buffer.from(text, 'latin1');
  return parseRequestHead(buf, findHeadEnd(buf));
};
const statusOf = (fn: () => unknown) => {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(HttpParseError);
    return (err as HttpParseError).status;
  }
  return 0;
};

describe('HTTP/1.1 heads', () => {
  it('parses a request head and the facts the proxy needs', () => {
    const head = req('GET /a?b=1 HTTP/1.1\r\nHost: x.test\r\nConnection: keep-alive, Upgrade\r\nUpgrade: websocket\r\nX-A:  v  \r\n\r\nrest');
    expect(head).toMatchObject({ method: 'GET', target: '/a?b=1', minor: 1, host: ['x.test'], connection: ['keep-alive', 'upgrade'], upgrade: true });
    expect(head.headers).toEqual(['Host', 'x.test', 'Connection', 'keep-alive, Upgrade', 'Upgrade', 'websocket', 'X-A', 'v']);
    expect(requestFraming(head)).toEqual({ kind: 'none' });
  });

  it('refuses what another parser could read differently', () => {
    expect(statusOf(() => req('GET / HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n'))).toBe(400);
    expect(statusOf(() => req('GET / HTTP/1.1\r\nHost : x\r\n\r\n'))).toBe(400);
    expect(statusOf(() => req('GET /  HTTP/1.1\r\nHost: x\r\n\r\n'))).toBe(400);
    expect(statusOf(() => req('GET / HTTP/2.0\r\nHost: x\r\n\r\n'))).toBe(505);
    expect(statusOf(() => requestFraming(req('POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n')))).toBe(400);
    expect(statusOf(() => requestFraming(req('POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n')))).toBe(400);
    expect(statusOf(() => requestFraming(req('POST / HTTP/1.1\r\nContent-Length: -3\r\n\r\n')))).toBe(400);
    expect(statusOf(() => requestFraming(req('POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n')))).toBe(501);
    expect(requestFraming(req('POST / HTTP/1.1\r\nContent-Length: 3, 3\r\n\r\n'))).toEqual({ kind: 'length', length: 3 });
  });

  it('frames responses by method and status (RFC 9112 §6.3)', () => {
    const res = (text: string) => {
      const buf = Buffer.from(text, 'latin1');
      return parseResponseHead(buf, findHeadEnd(buf));
    };
    const ok = res('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n');
    expect(responseFraming(ok, 'GET')).toEqual({ kind: 'length', length: 5 });
    expect(responseFraming(ok, 'HEAD')).toEqual({ kind: 'none' });
    expect(responseFraming(res('HTTP/1.1 304 Not Modified\r\n\r\n'), 'GET')).toEqual({ kind: 'none' });
    expect(responseFraming(res('HTTP/1.1 200 OK\r\n\r\n'), 'GET')).toEqual({ kind: 'close' });
    expect(responseFraming(res('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n'), 'GET')).toEqual({ kind: 'chunked' });
    expect(responseHeadIsPortable(ok)).toBe(true);
    const keepAlive = res('HTTP/1.1 200 OK\r\nConnection: keep-alive, X-Hop\r\nKeep-Alive: timeout=5\r\nX-Hop: 1\r\nX-End: 2\r\n\r\n');
    expect(responseHeadIsPortable(keepAlive)).toBe(false);
    expect(buildResponseHead(keepAlive, false)).toBe('HTTP/1.1 200 OK\r\nX-End: 2\r\n\r\n');
    expect(buildResponseHead(keepAlive, true)).toBe('HTTP/1.1 200 OK\r\nX-End: 2\r\nConnection: close\r\n\r\n');
  });

  it('follows a chunked body split anywhere and stops exactly at its end', () => {
    const body = Buffer.from('5;ext=1\r\nhello\r\n0\r\nTrailer: t\r\n\r\nNEXT', 'latin1');
    const bodyLength = body.length - 4;
    for (let split = 0; split <= bodyLength; split++) {
      const tracker = new BodyTracker({ kind: 'chunked' });
      const first = tracker.take(body.subarray(0, split), 0);
      expect(first).toBe(split);
      const rest = body.subarray(split);
      expect(split + tracker.take(rest, 0)).toBe(bodyLength);
      expect(tracker.done).toBe(true);
    }
    expect(() => new BodyTracker({ kind: 'chunked' }).take(Buffer.from('5\r\nhelloX\r\n'), 0)).toThrow(HttpParseError);
    expect(() => new BodyTracker({ kind: 'chunked' }).take(Buffer.from('zz\r\n'), 0)).toThrow(HttpParseError);
  });

  it('rebuilds the forwarded request head: hop-by-hop and client X-Forwarded-* out, ours in', () => {
    const head = req('GET / HTTP/1.1\r\nHost: h\r\nConnection: close, X-Secret\r\nX-Secret: 1\r\nKeep-Alive: 5\r\nTE: trailers\r\nX-Forwarded-For: 6.6.6.6\r\nAccept: */*\r\n\r\n');
    expect(buildRequestHead('GET', '/', head.headers, head.connection, { minor: 1, clientIp: '10.0.0.1', host: 'h', upgrade: false })).toBe(
      'GET / HTTP/1.1\r\nHost: h\r\nAccept: */*\r\nX-Forwarded-For: 10.0.0.1\r\nX-Forwarded-Proto: https\r\nX-Forwarded-Host: h\r\n\r\n',
    );
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
