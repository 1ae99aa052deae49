import type { Refusal } from '../../src/proxy/decision';
import { htmlResponse, PAGE_CSP, refusalResponse, signOutResponse } from '../../src/proxy/pages';

/** The proxy's pages as HTTP responses: framing, headers, escaping. (How they look: pages.browser.test.ts.) */

function parse(response: string): { status: number; headers: Map<string, string[]>; body: string } {
  const end = response.indexOf('\r\n\r\n');
  const [statusLine, ...lines] = response.slice(0, end).split('\r\n');
  const headers = new Map<string, string[]>();
  for (const line of lines) {
    const colon = line.indexOf(':');
    const name = line.slice(0, colon).toLowerCase();
    headers.set(name, [...(headers.get(name) ?? []), line.slice(colon + 1).trim()]);
  }
  return { status: Number(statusLine.split(' ')[1]), headers, body: response.slice(end + 4) };
}

const request = { host: '3000--h-alice.dev.example.com', head: false, close: false };
const hostile = { subject: '<img src=x onerror=alert(1)>', organization: 'zoë & "co" 🦊' };
const forbidden: Refusal = { kind: 'refuse', status: 403, reason: 'forbidden', access: 'private', principal: hostile, byCookie: true, cors: undefined };

describe('proxy pages', () => {
  it('escape what a token or a Host header says, and stay pure ASCII so Content-Length holds on a latin1 socket', () => {
    for (const response of [refusalResponse(forbidden, request), htmlResponse(404, 'Nothing is published at évil<b>.example.', { close: false, reason: 'unknown-host' })]) {
      expect(response).toMatch(/^[\x00-\x7f]*$/);
      const { headers, body } = parse(response);
      expect(headers.get('content-length')).toEqual([String(Buffer.byteLength(body, 'latin1'))]);
      expect(body).not.toContain('<img');
      expect(body).not.toContain('<b>.example');
    }
    const { body } = parse(refusalResponse(forbidden, request));
    expect(body).toContain('<b>&lt;img src=x onerror=alert(1)&gt;</b>');
    expect(body).toContain('<b>zo&#235; &amp; &quot;co&quot; &#129418;</b>');
  });

  it('every page: a strict CSP, no script, no caching, no referrer; HEAD gets the head only', () => {
    const refusals: Refusal[] = [
      { kind: 'refuse', status: 401, reason: 'no-token', cors: undefined },
      { kind: 'refuse', status: 401, reason: 'token-expired', cors: undefined },
      forbidden,
      { ...forbidden, reason: 'cross-site' },
      { kind: 'refuse', status: 400, reason: 'preflight-body' },
    ];
    const responses = [...refusals.map((r) => refusalResponse(r, request)), signOutResponse(request), htmlResponse(502, 'down', { close: true, reason: 'upstream-unreachable' })];
    for (const response of responses) {
      const { headers, body } = parse(response);
      expect(headers.get('content-security-policy')).toEqual([PAGE_CSP]);
      expect(headers.get('cache-control')).toEqual(['no-store']);
      expect(headers.get('referrer-policy')).toEqual(['no-referrer']);
      expect(headers.get('x-content-type-options')).toEqual(['nosniff']);
      expect(body).not.toMatch(/<script|<[^>]*\son\w+=|javascript:/i);
    }
    expect(PAGE_CSP).toMatch(/^default-src 'none'; style-src 'sha256-[A-Za-z0-9+/]{43}='; form-action 'self'; frame-ancestors 'none'; base-uri 'none'$/);
    const head = parse(refusalResponse(refusals[0], { ...request, head: true }));
    const get = parse(refusalResponse(refusals[0], request));
    expect(head.body).toBe('');
    expect(head.headers.get('content-length')).toEqual(get.headers.get('content-length'));
  });

  it('401 says how to get a token; expired says so; 403 offers sign-out only to a cookie', () => {
    const unauth = parse(refusalResponse({ kind: 'refuse', status: 401, reason: 'no-token', cors: undefined }, request)).body;
    expect(unauth).toContain('?gateway_token=&lt;token&gt;');
    expect(unauth).toContain('Authorization: Bearer &lt;token&gt;');
    expect(unauth).toContain('X-Gateway-Token: &lt;token&gt;');
    expect(unauth).toContain('POST /v1/access-tokens');
    expect(parse(refusalResponse({ kind: 'refuse', status: 401, reason: 'token-expired', cors: undefined }, request)).body).toContain('has expired');
    expect(parse(refusalResponse(forbidden, request)).body).toContain('<form method="post" action="/.gateway/sign-out">');
    expect(parse(refusalResponse({ ...forbidden, byCookie: false }, request)).body).not.toContain('<form');
  });

  it('401/403 carry CORS headers only for the origin the decision names', () => {
    const origin = 'https://8080--h-alice.dev.example.com';
    const withCors = parse(refusalResponse({ kind: 'refuse', status: 401, reason: 'no-token', cors: origin }, request)).headers;
    expect(withCors.get('access-control-allow-origin')).toEqual([origin]);
    expect(withCors.get('access-control-allow-credentials')).toEqual(['true']);
    expect(withCors.get('vary')).toEqual(['Origin']);
    const without = parse(refusalResponse({ ...forbidden, cors: undefined }, request)).headers;
    expect(without.has('access-control-allow-origin')).toBe(false);
  });

  it('sign-out clears the host-only cookie and links back to the same host', () => {
    const { status, headers, body } = parse(signOutResponse({ ...request, close: true }));
    expect(status).toBe(200);
    expect(headers.get('set-cookie')).toEqual(['__Host-gateway-token=; Max-Age=0; Path=/; HttpOnly; Secure; SameSite=Lax']);
    expect(headers.get('connection')).toEqual(['close']);
    expect(body).toContain('<a href="/">');
  });
});
