/**
 * The proxy's token scrubbing and header reading (src/proxy/access.ts) go by the exact header
 * name, not by its length, its position or its value. The rules: only `X-Gateway-Token`,
 * `Authorization` and `Cookie` can carry a gateway token, and only `Origin`, `Sec-Fetch-Site` and
 * `Access-Control-Request-Method` are read as browser headers: a header of the same length, or one
 * whose value merely looks like a token, is the application's and is forwarded byte for byte; a
 * Cookie header without the token cookie is forwarded exactly as sent; the precedence of sources
 * (header, Authorization, query, cookie) holds in whatever order the headers arrive; a bare
 * `gateway_token` parameter leaves the query and carries no token.
 */
import { mintAccessToken } from '../../src/mesh/access-token';
import { browserHeaders, scrubRequest, stripQueryToken } from '../../src/proxy/access';
import { decide, isSameEnvironmentOrigin, type RequestFacts } from '../../src/proxy/decision';
import type { RouteEntry } from '../../src/mesh/routes';
import { testSigner } from './support';

describe('token scrubbing goes by the exact header name', () => {
  const keys = testSigner();
  let gw: string;
  let gw2: string;
  beforeAll(async () => {
    gw = await mintAccessToken({ signer: keys.signer, principal: { subject: 'alice', organization: 'acme' }, ttlSeconds: 60 });
    gw2 = await mintAccessToken({ signer: keys.signer, principal: { subject: 'bob', organization: 'acme' }, ttlSeconds: 60 });
  });

  it('forwards, untouched and as no token, headers as long as a carrier but named otherwise', () => {
    // 15 characters like X-Gateway-Token, 13 like Authorization, 6 like Cookie.
    const cases: string[][] = [
      ['Accept-Language', gw],
      ['X-Auth-Header', `Bearer ${gw}`],
      ['Cache-Control', `Bearer ${gw}`],
      ['X-Note', `__Host-gateway-token=${gw}`],
      ['Accept', `a=1; __Host-gateway-token=${gw}`],
    ];
    for (const headers of cases) {
      const scrubbed = scrubRequest('/', headers);
      expect({ headers, token: scrubbed.token, source: scrubbed.source, forwarded: scrubbed.headers }).toEqual({ headers, token: undefined, source: undefined, forwarded: headers });
      expect(scrubbed.headers).toBe(headers);
    }
  });

  it('forwards a Cookie header without the token cookie exactly as sent, spacing included', () => {
    for (const value of ['a=1;b=2', ' a=1 ;;b=2 ']) {
      const headers = ['Cookie', value];
      const scrubbed = scrubRequest('/', headers);
      expect({ value, forwarded: scrubbed.headers, token: scrubbed.token }).toEqual({ value, forwarded: headers, token: undefined });
    }
  });

  it('ranks the sources the same whatever order the headers come in', () => {
    const orders: [string, string[], string, string][] = [
      ['header after the cookie', ['Cookie', `__Host-gateway-token=${gw2}`, 'X-Gateway-Token', gw], gw, 'header'],
      ['header before Authorization', ['X-Gateway-Token', gw, 'Authorization', `Bearer ${gw2}`], gw, 'header'],
      ['Authorization after the cookie', ['Cookie', `__Host-gateway-token=${gw2}`, 'Authorization', `Bearer ${gw}`], gw, 'authorization'],
      ['Authorization before the cookie', ['Authorization', `Bearer ${gw}`, 'Cookie', `__Host-gateway-token=${gw2}`], gw, 'authorization'],
      ['the first of two Authorization headers', ['Authorization', `Bearer ${gw}`, 'Authorization', `Bearer ${gw2}`], gw, 'authorization'],
    ];
    for (const [what, headers, token, source] of orders) {
      const scrubbed = scrubRequest('/', headers);
      expect({ what, token: scrubbed.token, source: scrubbed.source, forwarded: scrubbed.headers }).toEqual({ what, token, source, forwarded: [] });
    }
    expect(scrubRequest(`/?gateway_token=${gw2}`, ['X-Gateway-Token', gw])).toMatchObject({ token: gw, source: 'header', target: '/' });
    expect(scrubRequest(`/?gateway_token=${gw2}`, ['Authorization', `Bearer ${gw}`])).toMatchObject({ token: gw, source: 'authorization', target: '/' });
    expect(scrubRequest(`/?gateway_token=${gw}`, ['Cookie', `__Host-gateway-token=${gw2}`])).toMatchObject({ token: gw, source: 'query', target: '/' });
  });

  it('removes a bare gateway_token parameter without taking it as a token; a path named like it is no query', () => {
    expect(stripQueryToken('/p?gateway_token')).toEqual({ target: '/p', token: undefined });
    expect(stripQueryToken('/p?a=1&gateway_token&b=2')).toEqual({ target: '/p?a=1&b=2', token: undefined });
    expect(stripQueryToken('/p?gateway_token=')).toEqual({ target: '/p', token: '' });
    expect(stripQueryToken('/gateway_token')).toEqual({ target: '/gateway_token', token: undefined });
    expect(stripQueryToken('/gateway_token=x&y')).toEqual({ target: '/gateway_token=x&y', token: undefined });
    expect(stripQueryToken('/p?a=1&b=2')).toEqual({ target: '/p?a=1&b=2', token: undefined });
    expect(scrubRequest('/p?gateway_token', [])).toEqual({ token: undefined, source: undefined, target: '/p', headers: [] });
    expect(scrubRequest('/p?gateway_token=', [])).toEqual({ token: undefined, source: undefined, target: '/p', headers: [] });
  });

  it('reads browser headers by their exact names, not by headers of their length', () => {
    // 6 characters like Origin, 14 like Sec-Fetch-Site, 29 like Access-Control-Request-Method.
    const lookalikes = ['Accept', 'https://a', 'Sec-Fetch-Mode', 'same-origin', 'X-Twenty-Nine-Characters-Long', 'PUT'];
    expect(browserHeaders(lookalikes)).toEqual({ origin: undefined, secFetchSite: undefined, accessControlRequestMethod: false });
  });
});

describe('the access decision goes by the exact path and origin', () => {
  const DOMAIN = 'dev.example.com';
  const entry: RouteEntry = { hostId: 'h-alice', ip: '10.42.0.5', owner: { subject: 'alice', organization: 'acme' }, ports: [] };
  const facts = (target: string): RequestFacts => ({
    method: 'GET', target, headers: [], upgrade: false, hasBody: false, token: undefined, tokenSource: undefined, verified: undefined, tokenProblem: undefined,
  });

  it('signs out only on /.gateway/sign-out, not on another path of its length', () => {
    // Each is 18 characters like /.gateway/sign-out, or that followed by a query.
    for (const target of ['/aaaaaaaaaaaaaaaaa', '/.well-known/xxxxx', '/.well-known/xxxxx?next=/', '/.gateway/sign-ou?']) {
      const decision = decide(facts(target), { entry, port: { port: 3000, access: 'private', protocol: 'http' } }, DOMAIN, Date.parse('2026-06-01T12:00:00Z'));
      expect({ target, kind: decision.kind }).toEqual({ target, kind: 'refuse' });
    }
  });

  it('an origin has one port at most', () => {
    expect(isSameEnvironmentOrigin('https://8080--h-alice.dev.example.com:443', 'h-alice', DOMAIN)).toBe(true);
    expect(isSameEnvironmentOrigin('https://8080--h-alice.dev.example.com:443:443', 'h-alice', DOMAIN)).toBe(false);
    expect(isSameEnvironmentOrigin('https://8080--h-alice.dev.example.com::443', 'h-alice', DOMAIN)).toBe(false);
  });
});
