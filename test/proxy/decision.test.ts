import type { VerifiedAccessToken } from '../../src/mesh/access-token';
import type { AccessLevel, RouteEntry } from '../../src/mesh/routes';
import { decide, type Decision, type RequestFacts, sameHostPath } from '../../src/proxy/decision';

/**
 * The per-request access decision as a table: each row names the rule it shows, the request's
 * facts, the port's access level, and the decision. Rows are written as an attacker would try them.
 */

const DOMAIN = 'dev.example.com';
const NOW = Date.parse('2026-06-01T12:00:00Z');
const ALICE = { subject: 'alice', organization: 'acme' };
const BOB = { subject: 'bob', organization: 'acme' };
const CAROL = { subject: 'carol', organization: 'globex' };
const EXPIRES = new Date(NOW + 600_000);
const as = (principal: typeof ALICE): VerifiedAccessToken => ({ principal, expiresAt: EXPIRES });
const entry: RouteEntry = { hostId: 'h-alice', ip: '10.42.0.5', owner: ALICE, ports: [] };
const route = (access: AccessLevel) => ({ entry, port: { port: 3000, access, protocol: 'http' as const } });

const SELF = 'https://3000--h-alice.dev.example.com';
const OTHER_PORT = 'https://8080--h-alice.dev.example.com';
const SIBLING = 'https://3000--h-mallory.dev.example.com';

/** Facts of a plain anonymous GET, overridden per row. */
function facts(over: Partial<RequestFacts> & { origin?: string; secFetchSite?: string; acrm?: boolean }): RequestFacts {
  const { origin, secFetchSite, acrm, ...rest } = over;
  const headers = ['Host', '3000--h-alice.dev.example.com'];
  if (origin !== undefined) headers.push('Origin', origin);
  if (secFetchSite !== undefined) headers.push('Sec-Fetch-Site', secFetchSite);
  if (acrm) headers.push('Access-Control-Request-Method', 'POST');
  return {
    method: 'GET',
    target: '/',
    headers,
    upgrade: false,
    hasBody: false,
    token: undefined,
    tokenSource: undefined,
    verified: undefined,
    tokenProblem: undefined,
    ...rest,
  };
}

const FORWARD: Decision = { kind: 'forward', untilTokenExpires: true };
const FORWARD_PUBLIC: Decision = { kind: 'forward', untilTokenExpires: false };
const PREFLIGHT: Decision = { kind: 'forward-preflight' };
const cookie = (principal = ALICE) => ({ token: 't', tokenSource: 'cookie' as const, verified: as(principal) });
const header = (principal = ALICE) => ({ token: 't', tokenSource: 'header' as const, verified: as(principal) });
const query = (principal = ALICE) => ({ token: 'tok.en.sig', tokenSource: 'query' as const, verified: as(principal) });
const unauthorized = (reason: string, cors?: string): Decision => ({ kind: 'refuse', status: 401, reason, cors } as Decision);
const forbidden = (principal: typeof ALICE, access: AccessLevel, byCookie: boolean, cors?: string): Decision =>
  ({ kind: 'refuse', status: 403, reason: 'forbidden', access, principal, byCookie, cors }) as Decision;
const crossSite = (principal = ALICE, access: AccessLevel = 'private'): Decision =>
  ({ kind: 'refuse', status: 403, reason: 'cross-site', access, principal, byCookie: true, cors: undefined }) as Decision;
const redirect = (location: string): Decision => ({
  kind: 'redirect',
  location,
  setCookie: '__Host-gateway-token=tok.en.sig; Max-Age=600; Path=/; HttpOnly; Secure; SameSite=Lax',
});

type Row = [rule: string, access: AccessLevel, request: Parameters<typeof facts>[0], expected: Decision];

const rows: Row[] = [
  // Access levels
  ['public ports need no token', 'public', {}, FORWARD_PUBLIC],
  ['public ports ignore a bad token', 'public', { token: 'x', tokenSource: 'header', tokenProblem: 'bad-signature' }, FORWARD_PUBLIC],
  ['public ports: a cookie-only cross-site POST is the application’s business', 'public', { method: 'POST', hasBody: true, ...cookie(), origin: SIBLING }, FORWARD_PUBLIC],
  ['private: no token is 401', 'private', {}, unauthorized('no-token')],
  ['private: an expired token is 401 saying so', 'private', { token: 't', tokenSource: 'header', tokenProblem: 'expired' }, unauthorized('token-expired')],
  ['private: a forged token is 401', 'private', { token: 't', tokenSource: 'cookie', tokenProblem: 'bad-signature' }, unauthorized('token-bad-signature')],
  ['private: the owner is let through until the token expires', 'private', header(), FORWARD],
  ['private: another member of the organization is 403', 'private', header(BOB), forbidden(BOB, 'private', false)],
  ['private: another organization is 403', 'private', header(CAROL), forbidden(CAROL, 'private', false)],
  ['organization: a member is let through', 'organization', header(BOB), FORWARD],
  ['organization: an outsider is 403, told they are signed in by cookie', 'organization', cookie(CAROL), forbidden(CAROL, 'organization', true)],
  ['organization: no token is 401', 'organization', {}, unauthorized('no-token')],

  // Rule: anonymous preflights are forwarded bodiless (answer filtered), never with a body
  ['preflight: OPTIONS + ACRM + Origin goes through without a token, filtered', 'private', { method: 'OPTIONS', origin: SIBLING, acrm: true }, PREFLIGHT],
  ['preflight: with a Content-Length body it is refused', 'private', { method: 'OPTIONS', origin: SIBLING, acrm: true, hasBody: true }, { kind: 'refuse', status: 400, reason: 'preflight-body' }],
  ['preflight: a wrong-organization token changes nothing (still anonymous, filtered)', 'private', { method: 'OPTIONS', origin: SIBLING, acrm: true, ...header(CAROL) }, PREFLIGHT],
  ['preflight: an admitted token makes it an ordinary request', 'private', { method: 'OPTIONS', origin: SELF, acrm: true, ...header() }, FORWARD],
  ['preflight: OPTIONS without ACRM is not a preflight', 'private', { method: 'OPTIONS', origin: SIBLING }, unauthorized('no-token')],
  ['preflight: OPTIONS without Origin is not a preflight', 'private', { method: 'OPTIONS', acrm: true }, unauthorized('no-token')],
  ['preflight: ACRM on another method is not a preflight', 'private', { method: 'POST', origin: SIBLING, acrm: true }, unauthorized('no-token')],
  ['preflight: public ports forward OPTIONS as any request', 'public', { method: 'OPTIONS', origin: SIBLING, acrm: true, hasBody: true }, FORWARD_PUBLIC],

  // Rule: a URL token becomes a cookie only if it may use the port; the redirect stays on the host
  ['URL token: the owner gets a cookie and a redirect to the same path', 'private', { ...query(), target: '/page?a=1' }, redirect('/page?a=1')],
  ['URL token: HEAD too', 'private', { ...query(), method: 'HEAD', target: '/x' }, redirect('/x')],
  ['URL token: another organization’s valid token is 403, no cookie', 'private', { ...query(CAROL), target: '/x' }, forbidden(CAROL, 'private', false)],
  ['URL token: another subject of the organization is 403 on a private port, no cookie', 'private', query(BOB), forbidden(BOB, 'private', false)],
  ['URL token: a member on an organization port gets the cookie', 'organization', query(BOB), redirect('/')],
  ['URL token: public ports keep it too', 'public', { ...query(CAROL), target: '/p' }, redirect('/p')],
  ['URL token: //host is another site: redirect to /', 'private', { ...query(), target: '//evil.example/x' }, redirect('/')],
  ['URL token: /\\host is another site to a browser: redirect to /', 'private', { ...query(), target: '/\\evil.example/x' }, redirect('/')],
  ['URL token: absolute-form target: redirect to /', 'private', { ...query(), target: 'https://evil.example/x' }, redirect('/')],
  ['URL token: a bad token is 401 (no cookie)', 'private', { token: 'x', tokenSource: 'query', tokenProblem: 'expired' }, unauthorized('token-expired')],
  ['URL token: on a POST it authenticates once (no redirect)', 'private', { ...query(), method: 'POST', hasBody: true }, FORWARD],
  ['URL token: on a WebSocket upgrade it authenticates (no redirect)', 'private', { ...query(), upgrade: true }, FORWARD],

  // Rule: cookie-only unsafe requests and upgrades must come from the same environment
  ['cookie: GET from anywhere is fine (safe method)', 'private', { ...cookie(), origin: SIBLING }, FORWARD],
  ['cookie: POST from the same origin', 'private', { ...cookie(), method: 'POST', hasBody: true, origin: SELF }, FORWARD],
  ['cookie: POST from another port of the same environment', 'private', { ...cookie(), method: 'POST', origin: OTHER_PORT }, FORWARD],
  ['cookie: POST from the same host name on an explicit port', 'private', { ...cookie(), method: 'POST', origin: `${SELF}:8443` }, FORWARD],
  ['cookie: POST from a sibling environment is refused', 'private', { ...cookie(), method: 'POST', hasBody: true, origin: SIBLING }, crossSite()],
  ['cookie: DELETE from a sibling environment is refused', 'organization', { ...cookie(), method: 'DELETE', origin: SIBLING }, crossSite(ALICE, 'organization')],
  ['cookie: WebSocket from a sibling environment is refused', 'private', { ...cookie(), upgrade: true, origin: SIBLING }, crossSite()],
  ['cookie: WebSocket from the same environment', 'private', { ...cookie(), upgrade: true, origin: OTHER_PORT }, FORWARD],
  ['cookie: Origin null (sandboxed frame, data: URL) is refused', 'private', { ...cookie(), method: 'POST', origin: 'null' }, crossSite()],
  ['cookie: http:// origin of the same name is refused', 'private', { ...cookie(), method: 'POST', origin: 'http://3000--h-alice.dev.example.com' }, crossSite()],
  ['cookie: a look-alike suffix is refused', 'private', { ...cookie(), method: 'POST', origin: 'https://3000--h-alice.dev.example.com.evil.example' }, crossSite()],
  ['cookie: a look-alike prefix is refused', 'private', { ...cookie(), method: 'POST', origin: 'https://3000--h-alice-x.dev.example.com' }, crossSite()],
  ['cookie: userinfo in Origin is refused', 'private', { ...cookie(), method: 'POST', origin: 'https://x@3000--h-alice.dev.example.com' }, crossSite()],
  ['cookie: junk after the port is refused', 'private', { ...cookie(), method: 'POST', origin: `${SELF}:443@evil.example` }, crossSite()],
  ['cookie: the apex domain is refused', 'private', { ...cookie(), method: 'POST', origin: 'https://dev.example.com' }, crossSite()],
  ['cookie: Origin wins over Sec-Fetch-Site', 'private', { ...cookie(), method: 'POST', origin: SIBLING, secFetchSite: 'same-origin' }, crossSite()],
  ['cookie: no Origin, Sec-Fetch-Site same-origin is accepted', 'private', { ...cookie(), method: 'PUT', secFetchSite: 'same-origin' }, FORWARD],
  ['cookie: no Origin, Sec-Fetch-Site same-site is refused (covers every sibling)', 'private', { ...cookie(), method: 'PUT', secFetchSite: 'same-site' }, crossSite()],
  ['cookie: no Origin, Sec-Fetch-Site cross-site is refused', 'private', { ...cookie(), method: 'PUT', secFetchSite: 'cross-site' }, crossSite()],
  ['cookie: no Origin, Sec-Fetch-Site none is refused', 'private', { ...cookie(), method: 'PUT', secFetchSite: 'none' }, crossSite()],
  ['cookie: neither header (a program) is refused: send the token in a header', 'private', { ...cookie(), method: 'POST' }, crossSite()],
  ['cookie: a repeated Origin is refused', 'private', { ...cookie(), method: 'POST', headers: ['Origin', SELF, 'Origin', SELF] }, crossSite()],
  ['header token: cross-site POST is unaffected', 'private', { ...header(), method: 'POST', origin: SIBLING }, FORWARD],
  ['header token: WebSocket from anywhere is unaffected', 'private', { ...header(), upgrade: true, origin: SIBLING }, FORWARD],
  ['Authorization token: cross-site PATCH is unaffected', 'private', { ...header(), tokenSource: 'authorization', method: 'PATCH' }, FORWARD],

  // Rule: the proxy's own 401/403 are readable by the same environment's pages (CORS), by no one else
  ['CORS: 401 to another port of the same environment carries its origin', 'private', { origin: OTHER_PORT }, unauthorized('no-token', OTHER_PORT)],
  ['CORS: 401 to a sibling environment carries none', 'private', { origin: SIBLING }, unauthorized('no-token')],
  ['CORS: 403 to the same environment carries its origin', 'private', { ...header(CAROL), origin: SELF }, forbidden(CAROL, 'private', false, SELF)],
  ['CORS: 401 to Origin null carries none', 'private', { origin: 'null' }, unauthorized('no-token')],

  // Rule: sign-out is the proxy's own path on every host and only clears the cookie
  ['sign-out: POST, even cross-site, even without a valid token', 'private', { method: 'POST', target: '/.gateway/sign-out', origin: SIBLING }, { kind: 'sign-out' }],
  ['sign-out: GET with a query', 'public', { target: '/.gateway/sign-out?next=/' }, { kind: 'sign-out' }],
  ['sign-out: only that exact path', 'private', { target: '/.gateway/sign-out-x' }, unauthorized('no-token')],
];

describe('the access decision', () => {
  it.each(rows)('%s', (_rule, access, request, expected) => {
    expect(decide(facts(request), route(access), DOMAIN, NOW)).toEqual(expected);
  });

  it('returns the same object for every plain forward (nothing allocated on the common path)', () => {
    const a = decide(facts(header()), route('private'), DOMAIN, NOW);
    const b = decide(facts(header(BOB)), route('organization'), DOMAIN, NOW);
    expect(a).toBe(b);
    expect(decide(facts({}), route('public'), DOMAIN, NOW)).toBe(decide(facts(header()), route('public'), DOMAIN, NOW));
  });
});

describe('sameHostPath', () => {
  it.each([
    ['/', '/'],
    ['/a/b?c=d&e', '/a/b?c=d&e'],
    ['//evil.example', '/'],
    ['/\\evil.example', '/'],
    ['\\\\evil.example', '/'],
    ['https://evil.example/', '/'],
    ['*', '/'],
    ['', '/'],
    ['/\t/evil.example', '/'],
    ['/a\nb', '/'],
    ['/caf\u00e9', '/'],
    ['/.//evil.example', '/.//evil.example'], // paths on this host: the URL parser keeps the host
    ['/..//evil.example', '/..//evil.example'],
    ['/%2F%2Fevil.example', '/%2F%2Fevil.example'],
  ])('%j → %j', (target, expected) => {
    expect(sameHostPath(target)).toBe(expected);
    // What a browser makes of the Location: always this host. (Unsafe targets do leave it.)
    expect(new URL(sameHostPath(target), 'https://3000--h-alice.dev.example.com/').host).toBe('3000--h-alice.dev.example.com');
  });

  it('the refused targets are the ones a browser would take off the host', () => {
    for (const target of ['//evil.example', '/\\evil.example', '/\t/evil.example']) {
      expect(new URL(target, 'https://3000--h-alice.dev.example.com/').host).toBe('evil.example');
    }
  });
});
