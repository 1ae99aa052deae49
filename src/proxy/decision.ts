import type { AccessTokenErrorCode, VerifiedAccessToken } from '../mesh/access-token';
import { type AccessLevel, isAllowed, parseProxyHostName, type PortRoute, type Principal, type RouteEntry } from '../mesh/routes';
import { browserHeaders, tokenCookie, type TokenSource } from './access';
import type { RawHeaders } from './http1';

/**
 * The proxy's per-request access decision, as one pure function of the request's facts, its
 * route and the time. `connection.ts` gathers the facts (token verified or not) and acts on the
 * answer; every rule is written here once and tested as a table (test/proxy/decision.test.ts).
 */

/** The proxy's own path on every published host name: clears the token cookie. */
export const SIGN_OUT_PATH = '/.gateway/sign-out';

export interface RequestFacts {
  readonly method: string;
  /** The request target without `gateway_token` parameters (what is forwarded; where a cookie redirect goes). */
  readonly target: string;
  /** The headers as received; `Origin`, `Sec-Fetch-Site` and `Access-Control-Request-Method` are read only when a rule needs them. */
  readonly headers: RawHeaders;
  /** The request asks for a protocol upgrade (WebSocket) that would be forwarded. */
  readonly upgrade: boolean;
  /** The request has a body (Content-Length > 0, or chunked). */
  readonly hasBody: boolean;
  /** The token the request presented (the one of highest precedence), and where. */
  readonly token: string | undefined;
  readonly tokenSource: TokenSource | undefined;
  /** That token, verified; or why it was not accepted. */
  readonly verified: VerifiedAccessToken | undefined;
  readonly tokenProblem: AccessTokenErrorCode | undefined;
}

/** The route a request addresses (as `RouteIndex.lookup` returns it). */
export interface RouteFacts {
  readonly entry: RouteEntry;
  readonly port: PortRoute;
}

export type Decision =
  /** Forward as it is. `untilTokenExpires`: an upload, a tunnel or a response still streaming ends when the token that admitted it expires. */
  | { readonly kind: 'forward'; readonly untilTokenExpires: boolean }
  /** An anonymous CORS preflight: forwarded bodiless; only the status and CORS headers of the answer go back. */
  | { readonly kind: 'forward-preflight' }
  /** A one-time URL token that may use this port: keep it in a cookie, and redirect to the same path without it. */
  | { readonly kind: 'redirect'; readonly location: string; readonly setCookie: string }
  /** Clear the token cookie. */
  | { readonly kind: 'sign-out' }
  | Refusal;

export type Refusal =
  | {
      readonly kind: 'refuse';
      readonly status: 401;
      readonly reason: 'no-token' | `token-${AccessTokenErrorCode}`;
      /** An origin of the same environment, to which the answer is readable (CORS), if the request came from one. */
      readonly cors: string | undefined;
    }
  | {
      readonly kind: 'refuse';
      readonly status: 403;
      /** `forbidden`: the principal may not use this port; `cross-site`: a cookie-only unsafe request or upgrade from another site. */
      readonly reason: 'forbidden' | 'cross-site';
      readonly access: Exclude<AccessLevel, 'public'>;
      readonly principal: Principal;
      /** The principal came from the `__Host-gateway-token` cookie (signing out helps). */
      readonly byCookie: boolean;
      readonly cors: string | undefined;
    }
  | { readonly kind: 'refuse'; readonly status: 400; readonly reason: 'preflight-body' };

const FORWARD_PUBLIC: Decision = { kind: 'forward', untilTokenExpires: false };
const FORWARD_WITH_TOKEN: Decision = { kind: 'forward', untilTokenExpires: true };
const FORWARD_PREFLIGHT: Decision = { kind: 'forward-preflight' };
const SIGN_OUT: Decision = { kind: 'sign-out' };
const PREFLIGHT_WITH_BODY: Decision = { kind: 'refuse', status: 400, reason: 'preflight-body' };

/**
 * The rules, in order:
 * 1. `/.gateway/sign-out` clears the token cookie, whoever asks (clearing a cookie is harmless).
 * 2. Public ports: forward (a verified `?gateway_token=` on a GET/HEAD still becomes a cookie).
 * 3. A verified `?gateway_token=` on a GET/HEAD that is not an upgrade becomes a cookie and a
 *    redirect to a same-host path, only if the token may use this port; else 403, no cookie.
 * 4. A principal the port admits: forward until the token expires, except that when the token
 *    came from the cookie alone, unsafe methods (not GET/HEAD/OPTIONS) and upgrades must come
 *    from the same environment (see `fromSameEnvironment`); else 403 cross-site.
 * 5. Otherwise a CORS preflight (OPTIONS + Access-Control-Request-Method + Origin) is forwarded
 *    anonymously if bodiless (filtered answer), refused 400 if it has a body.
 * 6. Otherwise 403 for a valid token the port does not admit, 401 for none or a bad one; both
 *    readable by CORS from the same environment's origins.
 */
export function decide(req: RequestFacts, route: RouteFacts, domain: string, nowMs: number): Decision {
  if (isSignOut(req.target)) return SIGN_OUT;
  const { access } = route.port;
  const { owner, hostId } = route.entry;
  const verified = req.verified;
  const urlToken = req.tokenSource === 'query' && verified !== undefined && !req.upgrade && (req.method === 'GET' || req.method === 'HEAD');
  if (access === 'public') return urlToken ? cookieRedirect(req, verified!, nowMs) : FORWARD_PUBLIC;
  const admitted = verified !== undefined && isAllowed(access, owner, verified.principal);
  if (admitted && urlToken) return cookieRedirect(req, verified, nowMs);
  if (admitted) {
    const needsSameSite = req.tokenSource === 'cookie' && (req.upgrade || !isSafeMethod(req.method));
    if (!needsSameSite || fromSameEnvironment(req.headers, hostId, domain)) return FORWARD_WITH_TOKEN;
    return { kind: 'refuse', status: 403, reason: 'cross-site', access, principal: verified.principal, byCookie: true, cors: undefined };
  }
  const browser = browserHeaders(req.headers);
  if (req.method === 'OPTIONS' && browser.accessControlRequestMethod && browser.origin !== undefined) {
    return req.hasBody ? PREFLIGHT_WITH_BODY : FORWARD_PREFLIGHT;
  }
  const cors = browser.origin !== undefined && isSameEnvironmentOrigin(browser.origin, hostId, domain) ? browser.origin : undefined;
  if (verified) {
    return { kind: 'refuse', status: 403, reason: 'forbidden', access, principal: verified.principal, byCookie: req.tokenSource === 'cookie', cors };
  }
  return { kind: 'refuse', status: 401, reason: req.tokenProblem ? `token-${req.tokenProblem}` : 'no-token', cors };
}

function cookieRedirect(req: RequestFacts, verified: VerifiedAccessToken, nowMs: number): Decision {
  return { kind: 'redirect', location: sameHostPath(req.target), setCookie: tokenCookie(req.token!, verified.expiresAt, nowMs) };
}

function isSignOut(target: string): boolean {
  if (!target.startsWith(SIGN_OUT_PATH)) return false;
  return target.length === SIGN_OUT_PATH.length || target[SIGN_OUT_PATH.length] === '?';
}

function isSafeMethod(method: string): boolean {
  return method === 'GET' || method === 'HEAD' || method === 'OPTIONS';
}

/**
 * Where a cookie redirect may send the browser: a path on the same host. It must start with
 * exactly one `/`: `//x` and `/\x` are other hosts to a browser (which also drops tabs and
 * newlines inside URLs, so any control or non-ASCII character is refused too). Anything else
 * (absolute-form, `*`) becomes `/`.
 */
export function sameHostPath(target: string): string {
  if (target.charCodeAt(0) !== 0x2f) return '/';
  const second = target.charCodeAt(1);
  if (second === 0x2f || second === 0x5c) return '/';
  for (const char of target) {
    const c = char.charCodeAt(0);
    if (c <= 0x20 || c >= 0x7f) return '/';
  }
  return target;
}

/**
 * Whether a cookie-only request comes from a page of the same environment. Environments share
 * one registrable domain, so to a browser they are same-site and `SameSite=Lax` does not keep
 * the cookie from a sibling environment's requests; the proxy checks the origin itself:
 * - `Origin` present: it must be `https://<any port>--<this hostId>.<domain>[:port]`
 *   (`null`, http, other hosts and anything malformed are refused);
 * - `Origin` absent: `Sec-Fetch-Site: same-origin` is accepted (it cannot say "same environment,
 *   other port", so `same-site` is refused: it covers every sibling environment);
 * - neither: refused. Every current browser sends `Origin` with unsafe methods and WebSocket
 *   handshakes, so the only clients that send neither are programs (or browsers too old to be
 *   trusted here), and programs can send the token in a header, which this rule does not touch.
 */
export function fromSameEnvironment(headers: RawHeaders, hostId: string, domain: string): boolean {
  const { origin, secFetchSite } = browserHeaders(headers);
  if (origin !== undefined) return isSameEnvironmentOrigin(origin, hostId, domain);
  return secFetchSite === 'same-origin';
}

/** `https://<port>--<hostId>.<domain>` with an optional numeric port, nothing else. */
export function isSameEnvironmentOrigin(origin: string, hostId: string, domain: string): boolean {
  if (!origin.startsWith('https://')) return false;
  const [host, port, ...more] = origin.slice(8).split(':');
  if (more.length > 0 || (port !== undefined && !/^[1-9]\d{0,4}$/.test(port))) return false;
  const target = parseProxyHostName(host, domain);
  return target !== undefined && target.hostId === hostId;
}
