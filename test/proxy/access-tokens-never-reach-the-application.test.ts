/**
 * The proxy's token scrubbing (src/proxy/access.ts), at its edges. The rules: every gateway token
 * (X-Gateway-Token, a gateway token in Authorization: Bearer, the __Host-gateway-token cookie,
 * gateway_token query parameters) leaves the request, whatever the header's case; everything else
 * (other headers, other cookies in their order, an application's own Authorization, other query
 * parameters) is forwarded exactly; the token checked is the first of the best source
 * (header, Authorization, query, cookie); empty tokens are no tokens. The preflight answer an
 * anonymous client gets carries only the status and the CORS headers.
 */
import { mintAccessToken } from '../../src/mesh/access-token';
import { browserHeaders, preflightResponseHead, scrubRequest, stripQueryToken } from '../../src/proxy/access';
import { testSigner } from './support';

describe('gateway tokens never reach the application', () => {
  const keys = testSigner();
  let gw: string;
  let gw2: string;
  beforeAll(async () => {
    gw = await mintAccessToken({ signer: keys.signer, principal: { subject: 'alice', organization: 'acme' }, ttlSeconds: 60 });
    gw2 = await mintAccessToken({ signer: keys.signer, principal: { subject: 'bob', organization: 'acme' }, ttlSeconds: 60 });
  });

  it('leaves a request without tokens as it is (the same headers array)', () => {
    const headers = ['Host', 'h', 'Cookie', 'a=1; b=2', 'Authorization', 'Basic dXNlcjpwdw==', 'X-Gateway-Tokens', 'not ours'];
    const scrubbed = scrubRequest('/p?q=1&gateway_tokenx=2', headers);
    expect(scrubbed).toEqual({ token: undefined, source: undefined, target: '/p?q=1&gateway_tokenx=2', headers });
    expect(scrubbed.headers).toBe(headers);
  });

  it('strips X-Gateway-Token in any case, keeping every other header in order', () => {
    const scrubbed = scrubRequest('/', ['Host', 'h', 'X-GATEWAY-TOKEN', gw, 'Accept', '*/*']);
    expect(scrubbed).toEqual({ token: gw, source: 'header', target: '/', headers: ['Host', 'h', 'Accept', '*/*'] });
  });

  it('strips a gateway token from Authorization: Bearer (any case, blanks or tabs), but forwards an application Bearer untouched', () => {
    for (const value of [`Bearer ${gw}`, `bearer\t${gw}`, `BEARER  ${gw}`]) {
      expect(scrubRequest('/', ['authorization', value, 'Accept', '*/*'])).toEqual({ token: gw, source: 'authorization', target: '/', headers: ['Accept', '*/*'] });
    }
    for (const value of ['Bearer app-token', `Bearer ${gw} extra`, `xBearer ${gw}`, `Bearer${gw}`]) {
      const headers = ['Authorization', value];
      const scrubbed = scrubRequest('/', headers);
      expect({ value, token: scrubbed.token, headers: scrubbed.headers }).toEqual({ value, token: undefined, headers });
    }
  });

  it('strips the token cookie, keeping the other cookies in order; a Cookie header left empty goes', () => {
    expect(scrubRequest('/', ['Cookie', `a=1; __Host-gateway-token=${gw}; b=2`])).toEqual({ token: gw, source: 'cookie', target: '/', headers: ['Cookie', 'a=1; b=2'] });
    expect(scrubRequest('/', ['COOKIE', `__Host-gateway-token=${gw}`, 'Accept', '*/*'])).toEqual({ token: gw, source: 'cookie', target: '/', headers: ['Accept', '*/*'] });
    // Empty pairs are not cookies; a cookie merely named like ours is not ours.
    expect(scrubRequest('/', ['Cookie', `;; a=1;  ; __Host-gateway-token=${gw}`]).headers).toEqual(['Cookie', 'a=1']);
    const lookalike = ['Cookie', `x__Host-gateway-token=${gw}`];
    expect(scrubRequest('/', lookalike)).toEqual({ token: undefined, source: undefined, target: '/', headers: lookalike });
  });

  it('strips every gateway_token query parameter; the first with a value is the token; others stay as sent', () => {
    expect(scrubRequest(`/p?a=1&gateway_token=${gw}&b=2&gateway_token=${gw2}`, [])).toEqual({ token: gw, source: 'query', target: '/p?a=1&b=2', headers: [] });
    expect(stripQueryToken('/p?gateway_token&gateway_token=x%2By+z')).toEqual({ target: '/p', token: 'x+y z' });
    expect(stripQueryToken('/p?gateway_token=%E0%A4%A')).toEqual({ target: '/p', token: '%E0%A4%A' });
    expect(stripQueryToken('/p?=v&gateway_token=t')).toEqual({ target: '/p?=v', token: 't' });
    expect(stripQueryToken('/gateway_token?x=1')).toEqual({ target: '/gateway_token?x=1', token: undefined });
    expect(stripQueryToken('/p')).toEqual({ target: '/p', token: undefined });
    expect(scrubRequest('?gateway_token=t', []).target).toBe('');
  });

  it('checks the token of the best source, the first of it; empty tokens are none; all are stripped', () => {
    const all = scrubRequest(`/?gateway_token=${gw2}`, ['Cookie', `__Host-gateway-token=${gw2}`, 'Authorization', `Bearer ${gw2}`, 'X-Gateway-Token', gw, 'X-Gateway-Token', gw2]);
    expect(all).toEqual({ token: gw, source: 'header', target: '/', headers: [] });
    expect(scrubRequest(`/?gateway_token=${gw}`, ['Cookie', `__Host-gateway-token=${gw2}`, 'Authorization', `Bearer ${gw}`])).toMatchObject({ token: gw, source: 'authorization' });
    expect(scrubRequest(`/?gateway_token=${gw}`, ['Cookie', `__Host-gateway-token=${gw2}`])).toMatchObject({ token: gw, source: 'query' });
    expect(scrubRequest('/', ['Cookie', `__Host-gateway-token=${gw}; __Host-gateway-token=${gw2}`])).toMatchObject({ token: gw, source: 'cookie' });
    expect(scrubRequest('/?gateway_token=', ['X-Gateway-Token', '', 'Cookie', `__Host-gateway-token=${gw2}`])).toEqual({ token: gw2, source: 'cookie', target: '/', headers: [] });
  });

  it('reads Origin, Sec-Fetch-Site and Access-Control-Request-Method in any case; a repeated one reads as unknown', () => {
    expect(browserHeaders(['ORIGIN', 'https://a', 'sec-fetch-site', 'same-origin', 'Access-Control-Request-Method', 'PUT'])).toEqual({ origin: 'https://a', secFetchSite: 'same-origin', accessControlRequestMethod: true });
    expect(browserHeaders(['Origin', 'https://a', 'Origin', 'https://a', 'Sec-Fetch-Site', 'same-origin', 'Sec-Fetch-Site', 'same-origin'])).toEqual({ origin: '', secFetchSite: '', accessControlRequestMethod: false });
    expect(browserHeaders(['Origins', 'https://a', 'Sec-Fetch-Sites', 'x', 'Access-Control-Request-Methods', 'PUT'])).toEqual({ origin: undefined, secFetchSite: undefined, accessControlRequestMethod: false });
  });

  it("answers a preflight with the status and the CORS headers only; no Content-Length for 204 and 304", () => {
    const head = { status: 200, headers: ['Access-Control-Allow-Origin', 'https://x', 'Set-Cookie', 'a=1', 'Vary', 'Origin', 'Content-Length', '12'] } as never;
    expect(preflightResponseHead(head, false)).toBe('HTTP/1.1 200 OK\r\nAccess-Control-Allow-Origin: https://x\r\nVary: Origin\r\nContent-Length: 0\r\n\r\n');
    expect(preflightResponseHead({ status: 204, headers: [] } as never, true)).toBe('HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n');
    expect(preflightResponseHead({ status: 304, headers: [] } as never, false)).toBe('HTTP/1.1 304 Not Modified\r\n\r\n');
    expect(preflightResponseHead({ status: 599, headers: [] } as never, false)).toBe('HTTP/1.1 599 \r\nContent-Length: 0\r\n\r\n');
  });
});
