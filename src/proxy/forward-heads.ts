import type { RawHeaders, ResponseHead } from './http1';

/** Builds the heads the proxy sends on: pure string building over raw header lists. */

function isConnectionSpecific(lower: string, named: readonly string[]): boolean {
  return lower === 'connection' || lower === 'keep-alive' || lower === 'proxy-connection' || lower === 'te' || named.includes(lower);
}

/**
 * Headers by which a client could vouch for itself or re-route the request behind the proxy:
 * the proxy is the edge, so only it says who the client is and what was asked for. Underscores
 * count as hyphens: CGI-style servers (WSGI, PHP, Rack) read `X_Forwarded_For` as X-Forwarded-For.
 */
function isClientClaim(name: string): boolean {
  const lower = name.includes('_') ? name.replace(/_/g, '-') : name;
  return (
    lower.startsWith('x-forwarded-') ||
    lower.startsWith('x-gateway-') ||
    lower === 'forwarded' ||
    lower === 'x-forwarded' ||
    lower === 'x-real-ip' ||
    lower === 'true-client-ip' ||
    // Client-address headers of other proxies and CDNs that frameworks read when told to trust them.
    lower === 'client-ip' ||
    lower === 'x-client-ip' ||
    lower === 'x-cluster-client-ip' ||
    lower === 'cf-connecting-ip' ||
    lower === 'fastly-client-ip' ||
    lower === 'x-original-host' ||
    lower === 'x-host' ||
    lower === 'x-original-url' ||
    lower === 'x-rewrite-url'
  );
}

/** First letters of every name `buildRequestHead` may drop on its own; others are only lower-cased if `Connection` names something. */
const DROPPED_INITIALS = new Set(['c', 'k', 'p', 't', 'u', 'x', 'f']);

export interface RequestForwarding {
  /** The client's HTTP/1.x minor version, kept so an HTTP/1.0 client never gets a chunked answer. */
  readonly minor: number;
  readonly clientIp: string;
  /** The client's `Host` as sent, port included: it becomes `X-Forwarded-Host`. */
  readonly host: string;
  /** A WebSocket (or other) upgrade: keep `Upgrade` and say `Connection: Upgrade`. */
  readonly upgrade: boolean;
}

/**
 * What an anonymous CORS preflight may carry to a port that does not admit its sender: what CORS
 * middleware reads to answer it (`Origin`, `Access-Control-Request-*`) and `Host`. Everything
 * else a browser sends on a preflight (User-Agent, Accept*, Referer, Sec-Fetch-*) is unused there,
 * and from an attacker it is input to a private app that no one was admitted to send.
 */
export function preflightHeaders(headers: RawHeaders): RawHeaders {
  const kept: RawHeaders = [];
  for (let i = 0; i < headers.length; i += 2) {
    const lower = headers[i].toLowerCase();
    if (lower === 'host' || lower === 'origin' || lower.startsWith('access-control-request-')) kept.push(headers[i], headers[i + 1]);
  }
  return kept;
}

/**
 * The request head for the environment: keep-alive, connection-specific headers and the
 * client's own forwarding claims dropped, then the proxy's X-Forwarded-For/Proto/Host.
 * `Transfer-Encoding` and `Content-Length` stay: the body is forwarded in its original framing
 * (the parser refuses a `Connection` header that names them).
 */
export function buildRequestHead(
  method: string,
  target: string,
  headers: RawHeaders,
  named: readonly string[],
  fwd: RequestForwarding,
): string {
  let head = `${method} ${target} HTTP/1.${fwd.minor}\r\n`;
  // `Connection: keep-alive` and `close` name no header that is sent; anything else may.
  const namesOthers = named.some((t) => t !== 'keep-alive' && t !== 'close');
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i];
    if (namesOthers || DROPPED_INITIALS.has(name[0].toLowerCase())) {
      const lower = name.toLowerCase();
      if (lower === 'upgrade' ? !fwd.upgrade : isConnectionSpecific(lower, named) || isClientClaim(lower)) continue;
    }
    head += `${name}: ${headers[i + 1]}\r\n`;
  }
  if (fwd.upgrade) head += 'Connection: Upgrade\r\n';
  return `${head}X-Forwarded-For: ${fwd.clientIp}\r\nX-Forwarded-Proto: https\r\nX-Forwarded-Host: ${fwd.host}\r\n\r\n`;
}

/**
 * Whether a response head can go to the client byte for byte: HTTP/1.1 with nothing
 * connection-specific in it but `Connection: keep-alive`, which holds for the client's
 * connection too (the head is rebuilt whenever the proxy will close it).
 */
export function responseHeadIsPortable(head: ResponseHead): boolean {
  if (head.minor !== 1) return false;
  for (const token of head.connection) if (token !== 'keep-alive') return false;
  for (let i = 0; i < head.headers.length; i += 2) {
    const name = head.headers[i];
    if ((name.length === 10 || name.length === 16) && isConnectionSpecific(name.toLowerCase(), []) && name.toLowerCase() !== 'connection') return false;
  }
  return true;
}

/** The response head for the client, without the environment's connection-specific headers. */
export function buildResponseHead(head: ResponseHead, close: boolean): string {
  const named = head.connection;
  let out = `HTTP/1.1 ${head.status} ${head.reason}\r\n`;
  for (let i = 0; i < head.headers.length; i += 2) {
    if (isConnectionSpecific(head.headers[i].toLowerCase(), named)) continue;
    out += `${head.headers[i]}: ${head.headers[i + 1]}\r\n`;
  }
  return `${out}${close ? 'Connection: close\r\n' : ''}\r\n`;
}
