/**
 * The proxy's access decision (src/proxy/decision.ts) at the edges of its rules, next to the
 * table in decision.test.ts. The rules: only the exact sign-out path signs out; a cookie alone
 * carries only safe methods (GET, HEAD, OPTIONS) from anywhere, everything else only from the same
 * environment's https origin (any port, a numeric port of 1-5 digits not starting with 0); a URL
 * token turns into a cookie only for GET and HEAD; a redirect never leaves the host.
 */
import type { VerifiedAccessToken } from '../../src/mesh/access-token';
import type { AccessLevel, RouteEntry } from '../../src/mesh/routes';
import { decide, type Decision, fromSameEnvironment, isSameEnvironmentOrigin, type RequestFacts, sameHostPath } from '../../src/proxy/decision';

const DOMAIN = 'dev.example.com';
const NOW = Date.parse('2026-06-01T12:00:00Z');
const ALICE = { subject: 'alice', organization: 'acme' };
const verified: VerifiedAccessToken = { principal: ALICE, expiresAt: new Date(NOW + 600_000) };
const entry: RouteEntry = { hostId: 'h-alice', ip: '10.42.0.5', owner: ALICE, ports: [] };
const route = (access: AccessLevel) => ({ entry, port: { port: 3000, access, protocol: 'http' as const } });
const FORWARD: Decision = { kind: 'forward', untilTokenExpires: true };

function facts(over: Partial<RequestFacts> = {}, headers: string[] = ['Host', '3000--h-alice.dev.example.com']): RequestFacts {
  return { method: 'GET', target: '/', headers, upgrade: false, hasBody: false, token: undefined, tokenSource: undefined, verified: undefined, tokenProblem: undefined, ...over };
}
const byCookie = (over: Partial<RequestFacts> = {}, headers?: string[]) => facts({ token: 't', tokenSource: 'cookie', verified, ...over }, headers);

describe('the access decision at its edges', () => {
  it('signs out on exactly /.gateway/sign-out, with or without a query, and on nothing like it', () => {
    for (const target of ['/.gateway/sign-out', '/.gateway/sign-out?x=1']) expect(decide(facts({ target }), route('private'), DOMAIN, NOW)).toEqual({ kind: 'sign-out' });
    for (const target of ['/x.gateway/sign-out', '/.gateway/sign-outx', '/.gateway/sign-ou', '//.gateway/sign-out', 'x/.gateway/sign-out']) {
      expect({ target, kind: decide(facts({ target }), route('private'), DOMAIN, NOW).kind }).toEqual({ target, kind: 'refuse' });
    }
  });

  it('a cookie alone carries GET, HEAD and OPTIONS from anywhere, and nothing else from another site', () => {
    const sibling = ['Host', 'x', 'Origin', 'https://3000--h-mallory.dev.example.com'];
    for (const method of ['GET', 'HEAD', 'OPTIONS']) expect({ method, d: decide(byCookie({ method }, sibling), route('private'), DOMAIN, NOW) }).toEqual({ method, d: FORWARD });
    for (const method of ['POST', 'PUT', 'DELETE', 'PATCH', 'get', '']) {
      expect({ method, reason: (decide(byCookie({ method }, sibling), route('private'), DOMAIN, NOW) as { reason?: string }).reason }).toEqual({ method, reason: 'cross-site' });
    }
    expect((decide(byCookie({ upgrade: true }, sibling), route('private'), DOMAIN, NOW) as { reason?: string }).reason).toBe('cross-site');
  });

  it('a URL token becomes a cookie only on GET and HEAD without an upgrade; otherwise it is used as it is', () => {
    const fromQuery = { token: 'a.b.c', tokenSource: 'query' as const, verified };
    expect(decide(facts({ ...fromQuery, target: '/x' }), route('private'), DOMAIN, NOW)).toMatchObject({ kind: 'redirect', location: '/x' });
    expect(decide(facts({ ...fromQuery, method: 'POST' }), route('private'), DOMAIN, NOW)).toEqual(FORWARD);
    expect(decide(facts({ ...fromQuery, upgrade: true }), route('private'), DOMAIN, NOW)).toEqual(FORWARD);
    expect(decide(facts({ token: 'a.b.c', tokenSource: 'header', verified, target: '/x' }), route('private'), DOMAIN, NOW)).toEqual(FORWARD);
    expect(decide(facts({ token: 'a.b.c', tokenSource: 'query', verified: undefined, tokenProblem: 'expired' }), route('public'), DOMAIN, NOW)).toEqual({ kind: 'forward', untilTokenExpires: false });
  });

  it('the same environment is an https origin naming this host, on any port, with a well-formed numeric port if any', () => {
    const cases: [string, boolean][] = [
      ['https://3000--h-alice.dev.example.com', true],
      ['https://8080--h-alice.dev.example.com:443', true],
      ['https://8080--h-alice.dev.example.com:65535', true],
      ['https://8080--h-alice.dev.example.com:99999', true],
      ['https://8080--h-alice.dev.example.com:100000', false],
      ['https://8080--h-alice.dev.example.com:0443', false],
      ['https://8080--h-alice.dev.example.com:', false],
      ['https://8080--h-alice.dev.example.com:44x', false],
      ['https://8080--h-alice.dev.example.com:x44', false],
      ['https://:443', false],
      ['http://3000--h-alice.dev.example.com', false],
      // Eight characters in, like https://, but http: the scheme itself is checked.
      ['http://x3000--h-alice.dev.example.com', false],
      ['xhttps://3000--h-alice.dev.example.com', false],
      ['https://3000--h-mallory.dev.example.com', false],
      ['https://3000--h-alice.dev.example.com.evil.test', false],
      ['null', false],
    ];
    for (const [origin, same] of cases) expect({ origin, same: isSameEnvironmentOrigin(origin, 'h-alice', DOMAIN) }).toEqual({ origin, same });
    expect(fromSameEnvironment(['Sec-Fetch-Site', 'same-origin'], 'h-alice', DOMAIN)).toBe(true);
    expect(fromSameEnvironment(['Sec-Fetch-Site', 'same-site'], 'h-alice', DOMAIN)).toBe(false);
    expect(fromSameEnvironment(['Origin', 'https://3000--h-mallory.dev.example.com', 'Sec-Fetch-Site', 'same-origin'], 'h-alice', DOMAIN)).toBe(false);
    expect(fromSameEnvironment([], 'h-alice', DOMAIN)).toBe(false);
  });

  it('a redirect path keeps every visible ASCII character and refuses controls, space, DEL and beyond, to the last character', () => {
    expect(sameHostPath('/a!~')).toBe('/a!~');
    expect(sameHostPath('/a\u0021')).toBe('/a!');
    for (const bad of ['/a b', '/a\u0020', '/a\u007f', '/a\u0080', '/a\u001f', '/a\t']) expect({ bad, path: sameHostPath(bad) }).toEqual({ bad, path: '/' });
    expect(sameHostPath('/')).toBe('/');
  });
});
