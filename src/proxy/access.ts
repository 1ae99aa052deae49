import { looksLikeAccessToken } from '../mesh/access-token';
import type { RawHeaders } from './http1';

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
  const candidates: [string, TokenSource][] = [];
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i];
    const value = headers[i + 1];
    let keep: string | undefined = value;
    if (name.length === 15 && name.toLowerCase() === TOKEN_HEADER) {
      candidates.push([value, 'header']);
      keep = undefined;
    } else if (name.length === 13 && name.toLowerCase() === 'authorization') {
      const m = /^bearer[ \t]+(\S+)$/i.exec(value);
      if (m && looksLikeAccessToken(m[1])) {
        candidates.push([m[1], 'authorization']);
        keep = undefined;
      }
    } else if (name.length === 6 && name.toLowerCase() === 'cookie' && value.includes(TOKEN_COOKIE)) {
      const kept: string[] = [];
      for (const pair of value.split(';')) {
        const trimmed = pair.trim();
        if (trimmed.startsWith(`${TOKEN_COOKIE}=`)) candidates.push([trimmed.slice(TOKEN_COOKIE.length + 1), 'cookie']);
        else if (trimmed) kept.push(trimmed);
      }
      keep = kept.length > 0 ? kept.join('; ') : undefined;
    }
    if (keep !== value && out === undefined) out = headers.slice(0, i);
    if (out !== undefined && keep !== undefined) out.push(name, keep);
  }
  const query = stripQueryToken(target);
  if (query.token !== undefined) candidates.push([query.token, 'query']);
  let best: [string, TokenSource] | undefined;
  for (const c of candidates) {
    if (c[0] !== '' && (!best || TOKEN_PRECEDENCE[c[1]] < TOKEN_PRECEDENCE[best[1]])) best = c;
  }
  return { token: best?.[0], source: best?.[1], target: query.target, headers: out ?? headers };
}

const TOKEN_PRECEDENCE: Record<TokenSource, number> = { header: 0, authorization: 1, query: 2, cookie: 3 };

/** Removes every `gateway_token` parameter from a request target; returns the first one's value. */
export function stripQueryToken(target: string): { target: string; token: string | undefined } {
  const q = target.indexOf('?');
  if (q < 0 || !target.includes(TOKEN_QUERY, q)) return { target, token: undefined };
  let token: string | undefined;
  const kept: string[] = [];
  for (const param of target.slice(q + 1).split('&')) {
    const eq = param.indexOf('=');
    const name = eq < 0 ? param : param.slice(0, eq);
    if (name === TOKEN_QUERY) {
      if (token === undefined && eq >= 0) token = safeDecode(param.slice(eq + 1));
    } else {
      kept.push(param);
    }
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
export function tokenCookie(token: string, expiresAt: Date, now: Date): string {
  const maxAge = Math.max(0, Math.floor((expiresAt.getTime() - now.getTime()) / 1000));
  return `${TOKEN_COOKIE}=${token}; Max-Age=${maxAge}; Path=/; HttpOnly; Secure; SameSite=Lax`;
}

/** A CORS preflight: answered by the application itself, without a token (browsers send none). */
export function isPreflight(method: string, headers: RawHeaders): boolean {
  if (method !== 'OPTIONS') return false;
  for (let i = 0; i < headers.length; i += 2) {
    if (headers[i].length === 29 && headers[i].toLowerCase() === 'access-control-request-method') return true;
  }
  return false;
}
