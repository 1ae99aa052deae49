import { STATUS_CODES } from 'node:http';
import { looksLikeAccessToken } from '../mesh/access-token';
import type { RawHeaders, ResponseHead } from './http1';

/**
 * Where a request carries its gateway access token, and the request without it. The token is
 * never forwarded to the application; an `Authorization` header that is not a gateway token is
 * the application's own and passes through untouched.
 */

/** Host-only cookie: the `__Host-` prefix makes browsers insist on Secure, Path=/ and no Domain. */
export const TOKEN_COOKIE = '__Host-gateway-token';
export const TOKEN_HEADER = 'x-gateway-token';
export const TOKEN_QUERY = 'gateway_token';

export type TokenSource = 'header' | 'authorization' | 'query' | 'cookie';

export interface ScrubbedRequest {
  /** The token to check (first found: header, Authorization, query, cookie), if any. */
  readonly token: string | undefined;
  readonly source: TokenSource | undefined;
  /** The request target without `gateway_token` query parameters. */
  readonly target: string;
  /** The headers without gateway tokens (other cookies and a foreign Authorization kept). */
  readonly headers: RawHeaders;
}

/** Separates the gateway token from a request; allocates only when there is one to remove. */
export function scrubRequest(target: string, headers: RawHeaders): ScrubbedRequest {
  let out: RawHeaders | undefined;
  let token: string | undefined;
  let source: TokenSource | undefined;
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i];
    const value = headers[i + 1];
    let keep: string | undefined = value;
    const carrier = tokenCarrier(name);
    if (carrier === 'header') {
      if (outranks(value, 'header', source)) {
        token = value;
        source = 'header';
      }
      keep = undefined;
    } else if (carrier === 'authorization') {
      const m = /^bearer[ \t]+(\S+)$/i.exec(value);
      if (m && looksLikeAccessToken(m[1])) {
        if (outranks(m[1], 'authorization', source)) {
          token = m[1];
          source = 'authorization';
        }
        keep = undefined;
      }
    } else if (carrier === 'cookie' && value.includes(TOKEN_COOKIE)) {
      const kept: string[] = [];
      for (const pair of value.split(';')) {
        const trimmed = pair.trim();
        if (!trimmed.startsWith(`${TOKEN_COOKIE}=`)) {
          if (trimmed) kept.push(trimmed);
          continue;
        }
        const cookie = trimmed.slice(TOKEN_COOKIE.length + 1);
        // Stryker disable next-line StringLiteral: the cookie ranks last, and a source of no rank ranks with it: either one only fills an empty place
        if (outranks(cookie, 'cookie', source)) {
          token = cookie;
          source = 'cookie';
        }
      }
      keep = kept.length > 0 ? kept.join('; ') : undefined;
    }
    if (keep !== value && out === undefined) out = headers.slice(0, i);
    if (out !== undefined && keep !== undefined) out.push(name, keep);
  }
  const query = stripQueryToken(target);
  if (query.token !== undefined && outranks(query.token, 'query', source)) {
    token = query.token;
    source = 'query';
  }
  return { token, source, target: query.target, headers: out ?? headers };
}

/**
 * Which token-carrying header `name` is, in any case. The length picks the one candidate, so most
 * headers are never lower-cased (this runs for every header of every request).
 */
function tokenCarrier(name: string): 'header' | 'authorization' | 'cookie' | undefined {
  switch (name.length) {
    case TOKEN_HEADER.length:
      return name.toLowerCase() === TOKEN_HEADER ? 'header' : undefined;
    case 13:
      return name.toLowerCase() === 'authorization' ? 'authorization' : undefined;
    case 6:
      return name.toLowerCase() === 'cookie' ? 'cookie' : undefined;
  }
  return undefined;
}

const TOKEN_PRECEDENCE: Record<TokenSource, number> = { header: 0, authorization: 1, query: 2, cookie: 3 };

/** Whether a non-empty `candidate` from `from` takes the place of the token found so far (the first of the best source wins). */
function outranks(candidate: string, from: TokenSource, found: TokenSource | undefined): boolean {
  return candidate !== '' && (found === undefined || TOKEN_PRECEDENCE[from] < TOKEN_PRECEDENCE[found]);
}

/**
 * Removes every `gateway_token` parameter from a request target (a bare one too); returns the
 * first value. A target with no query, or none of ours, comes back as it is.
 */
export function stripQueryToken(target: string): { target: string; token: string | undefined } {
  const q = target.indexOf('?');
  if (q < 0) return { target, token: undefined };
  // Stryker disable next-line ConditionalExpression: a fast path that spares the split; a query without our name comes out of the loop below as it went in
  if (!target.includes(TOKEN_QUERY, q)) return { target, token: undefined };
  let token: string | undefined;
  const kept: string[] = [];
  for (const param of target.slice(q + 1).split('&')) {
    if (param === TOKEN_QUERY) continue;
    if (!param.startsWith(`${TOKEN_QUERY}=`)) kept.push(param);
    else if (token === undefined) token = safeDecode(param.slice(TOKEN_QUERY.length + 1));
  }
  const path = target.slice(0, q);
  return { target: kept.length > 0 ? `${path}?${kept.join('&')}` : path, token };
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text.replace(/\+/g, ' '));
  } catch {
    return text;
  }
}

/** The Set-Cookie value that keeps `token` for this host name until it expires. */
export function tokenCookie(token: string, expiresAt: Date, nowMs: number): string {
  const maxAge = Math.max(0, Math.floor((expiresAt.getTime() - nowMs) / 1000));
  return `${TOKEN_COOKIE}=${token}; Max-Age=${maxAge}; Path=/; HttpOnly; Secure; SameSite=Lax`;
}

/** The Set-Cookie value that removes the token cookie (sign-out). */
export const CLEAR_TOKEN_COOKIE = `${TOKEN_COOKIE}=; Max-Age=0; Path=/; HttpOnly; Secure; SameSite=Lax`;

/** The request headers the access rules read, found in one pass when a rule needs them. */
export interface BrowserHeaders {
  origin: string | undefined;
  secFetchSite: string | undefined;
  accessControlRequestMethod: boolean;
}

export function browserHeaders(headers: RawHeaders): BrowserHeaders {
  const found: BrowserHeaders = { origin: undefined, secFetchSite: undefined, accessControlRequestMethod: false };
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i];
    // The length picks the one candidate, so most headers are never lower-cased.
    // A repeated Origin or Sec-Fetch-Site is not something a browser sends: read as "unknown".
    switch (name.length) {
      case 6:
        if (name.toLowerCase() === 'origin') found.origin = found.origin === undefined ? headers[i + 1] : '';
        break;
      case 14:
        if (name.toLowerCase() === 'sec-fetch-site') found.secFetchSite = found.secFetchSite === undefined ? headers[i + 1] : '';
        break;
      case 29:
        if (name.toLowerCase() === 'access-control-request-method') found.accessControlRequestMethod = true;
        break;
    }
  }
  return found;
}

/**
 * The head an anonymous client gets for a CORS preflight (see `decide`): the status and the environment's
 * `Access-Control-*` and `Vary` headers, nothing else (no body, cookies, or reason text of the
 * application's choosing).
 */
export function preflightResponseHead(head: ResponseHead, close: boolean): string {
  let out = `HTTP/1.1 ${head.status} ${STATUS_CODES[head.status] ?? ''}\r\n`;
  for (let i = 0; i < head.headers.length; i += 2) {
    const lower = head.headers[i].toLowerCase();
    if (lower.startsWith('access-control-') || lower === 'vary') out += `${head.headers[i]}: ${head.headers[i + 1]}\r\n`;
  }
  if (head.status !== 204 && head.status !== 304) out += 'Content-Length: 0\r\n';
  return `${out}${close ? 'Connection: close\r\n' : ''}\r\n`;
}
