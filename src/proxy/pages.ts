import { createHash } from 'node:crypto';
import type { AccessTokenErrorCode } from '../mesh/access-token';
import { CLEAR_TOKEN_COOKIE, TOKEN_QUERY } from './access';
import { type Refusal, SIGN_OUT_PATH } from './decision';

/**
 * The proxy's own answers: small HTML pages a person reads (what went wrong, what to do), and
 * redirects. Pure string building. Every page: no script, a CSP that allows only its one style
 * sheet (by hash) and forms posting to the same host, no framing, no referrer, never a token.
 */

const REASONS: Record<number, string> = {
  200: 'OK',
  302: 'Found',
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  408: 'Request Timeout',
  429: 'Too Many Requests',
  431: 'Request Header Fields Too Large',
  501: 'Not Implemented',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
  505: 'HTTP Version Not Supported',
};

export function reasonPhrase(status: number): string {
  return REASONS[status] ?? 'Error';
}

/** HTML built only by `html`: interpolated strings are escaped, nested `Html` is kept. */
class Html {
  constructor(readonly text: string) {}
}

type HtmlValue = string | number | Html | readonly Html[];

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/**
 * Escapes markup, and writes every non-ASCII character as a numeric reference: pages are pure
 * ASCII, so their Content-Length holds however the response string is encoded onto the socket.
 */
function escapeHtml(text: string): string {
  return text.replace(/[&<>"']|[^\x00-\x7f]/gu, (c) => ESCAPES[c] ?? `&#${c.codePointAt(0)};`);
}

function html(strings: TemplateStringsArray, ...values: HtmlValue[]): Html {
  let out = strings[0];
  values.forEach((value, i) => {
    out += (Array.isArray(value) ? value.map((v: Html) => v.text).join('') : value instanceof Html ? value.text : escapeHtml(String(value))) + strings[i + 1];
  });
  return new Html(out);
}

const STYLE =
  'body{font:16px/1.55 system-ui,-apple-system,"Segoe UI",sans-serif;max-width:40rem;margin:3.5rem auto;padding:0 1.25rem;color:#1f2328;background:#fff}' +
  'h1{font-size:1.45rem;margin:0 0 1rem}h1 small{display:block;font-size:.85rem;font-weight:600;color:#6e7781;letter-spacing:.04em;margin-bottom:.3rem}' +
  'p,li{color:#424a53}ul{padding-left:1.2rem}li{margin:.4rem 0}code{font:.9em ui-monospace,SFMono-Regular,Menlo,monospace;background:#f3f4f6;padding:.1em .35em;border-radius:4px;overflow-wrap:anywhere}a{color:#0969da}' +
  'b{color:#1f2328}button{font:inherit;padding:.45rem 1rem;border:1px solid #b6bcc4;border-radius:6px;background:#f6f8fa;cursor:pointer}' +
  'footer{margin-top:2.5rem;font-size:.8rem;color:#8c959f}' +
  '@media (prefers-color-scheme:dark){body{background:#0d1117;color:#e6edf3}p,li{color:#c9d1d9}b{color:#e6edf3}code{background:#21262d}button{background:#21262d;color:#e6edf3;border-color:#3d444d}a{color:#4493f8}}';

/** The pages' Content-Security-Policy: nothing but this style sheet; forms only to the same host. */
export const PAGE_CSP =
  `default-src 'none'; style-src 'sha256-${createHash('sha256').update(STYLE).digest('base64')}'; ` +
  "form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

const STYLE_ELEMENT = new Html(`<style>${STYLE}</style>`);

function document(status: number, heading: string, body: Html): string {
  return `${
    html`<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${heading}</title><meta name="viewport" content="width=device-width,initial-scale=1">${STYLE_ELEMENT}</head><body><main><h1>${status >= 400 ? html`<small>${status} ${reasonPhrase(status)}</small>` : html``}${heading}</h1>${body}</main><footer>nebula-gateway proxy</footer></body></html>`.text
  }\n`;
}

function response(status: number, body: string, options: { close: boolean; head?: boolean; extraHeaders?: readonly string[] }): string {
  return (
    `HTTP/1.1 ${status} ${reasonPhrase(status)}\r\n` +
    'Content-Type: text/html; charset=utf-8\r\n' +
    `Content-Length: ${Buffer.byteLength(body)}\r\n` +
    `Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\nReferrer-Policy: no-referrer\r\nContent-Security-Policy: ${PAGE_CSP}\r\n` +
    (options.extraHeaders ?? []).map((h) => `${h}\r\n`).join('') +
    (options.close ? 'Connection: close\r\n' : '') +
    '\r\n' +
    (options.head ? '' : body)
  );
}

/** What to try, for the proxy's own failures that have a usual cause. */
const HINTS: Record<string, Html> = {
  'upstream-unreachable': html`<p>The usual cause: the server in the environment listens on <code>127.0.0.1</code> (localhost)
only, which the gateway cannot reach. Start it on <code>0.0.0.0</code> (all interfaces) or on the environment's
overlay IP, for example <code>--host 0.0.0.0</code>, and check that it is running on that port.</p>`,
  'unknown-host': html`<p>Addresses look like <code>https://&lt;port&gt;--&lt;environment id&gt;.&lt;domain&gt;</code>; the port
must be published for that environment by a gateway admin.</p>`,
};

/** A small, self-contained HTML page saying what went wrong and, where there is a usual cause, what to do. */
export function errorPage(status: number, message: string, reason?: string): string {
  return document(status, message, (reason && HINTS[reason]) || html``);
}

/** A complete HTTP/1.1 response with an HTML body (`HEAD` gets the head only). */
export function htmlResponse(
  status: number,
  message: string,
  options: { close: boolean; head?: boolean; extraHeaders?: string[]; reason?: string },
): string {
  return response(status, errorPage(status, message, options.reason), options);
}

/** A 302 to `location` (a same-host path, see `sameHostPath`) that also sets `setCookie`. */
export function redirectResponse(location: string, setCookie: string, close: boolean): string {
  return (
    `HTTP/1.1 302 Found\r\nLocation: ${location}\r\nSet-Cookie: ${setCookie}\r\n` +
    'Cache-Control: no-store\r\nReferrer-Policy: no-referrer\r\nContent-Length: 0\r\n' +
    (close ? 'Connection: close\r\n' : '') +
    '\r\n'
  );
}

export interface PageRequest {
  /** The published host name the request addressed (already routed, without a port). */
  readonly host: string;
  /** A HEAD request: the head only. */
  readonly head: boolean;
  readonly close: boolean;
}

const TOKEN_PROBLEMS: Record<AccessTokenErrorCode, string> = {
  malformed: 'it is not a gateway access token',
  'bad-signature': 'it was not signed by this gateway',
  expired: 'it has expired (tokens last at most 24 hours)',
  'not-yet-valid': 'it is not valid yet (is the clock of the machine that minted it right?)',
  'wrong-audience': 'it was not minted for this proxy',
};

function howToGetAccess(host: string): Html {
  return html`<p>To open it, present a gateway access token:</p><ul>
<li>In a browser, add <code>?${TOKEN_QUERY}=&lt;token&gt;</code> to the address once, e.g.
<code>https://${host}/?${TOKEN_QUERY}=&lt;token&gt;</code>. The proxy keeps the token in a cookie for this
address only, until the token expires.</li>
<li>From a program, send <code>Authorization: Bearer &lt;token&gt;</code> or <code>X-Gateway-Token: &lt;token&gt;</code>
with each request.</li></ul>
<p>Tokens are minted by a gateway admin (<code>POST /v1/access-tokens</code> on the gateway API, for a subject and
an organization) and last up to 24 hours. Ask the person who runs your development environments for one.</p>`;
}

function signedInAs(refusal: Extract<Refusal, { status: 403 }>): Html {
  const who = html`<b>${refusal.principal.subject}</b> of the organization <b>${refusal.principal.organization}</b>`;
  return refusal.byCookie ? html`<p>You are signed in here as ${who}.</p>` : html`<p>The access token you sent is for ${who}.</p>`;
}

function signOutForm(host: string): Html {
  return html`<form method="post" action="${SIGN_OUT_PATH}"><p><button type="submit">Sign out of ${host}</button></p></form>`;
}

function corsHeaders(origin: string | undefined): string[] {
  return origin === undefined ? [] : [`Access-Control-Allow-Origin: ${origin}`, 'Access-Control-Allow-Credentials: true', 'Vary: Origin'];
}

/** The proxy's answer to a request the access rules refused (see `decide`). */
export function refusalResponse(refusal: Refusal, req: PageRequest): string {
  const options = { close: req.close, head: req.head, extraHeaders: refusal.status === 400 ? [] : corsHeaders(refusal.cors) };
  switch (refusal.status) {
    case 400:
      return response(400, errorPage(400, 'A CORS preflight (OPTIONS with Access-Control-Request-Method) may not carry a body.'), options);
    case 401: {
      const problem = refusal.reason === 'no-token' ? undefined : (refusal.reason.slice(6) as AccessTokenErrorCode);
      const heading = problem === 'expired' ? 'Your access token has expired' : problem ? 'Your access token was not accepted' : 'An access token is needed';
      const intro = problem
        ? html`<p>The token sent to <b>${req.host}</b> was not accepted: ${TOKEN_PROBLEMS[problem]}. Get a new one.</p>`
        : html`<p><b>${req.host}</b> is a port of a development environment that is not public.</p>`;
      return response(401, document(401, heading, html`${intro}${howToGetAccess(req.host)}`), options);
    }
    case 403: {
      if (refusal.reason === 'cross-site') {
        const body = html`<p>This request changes something (or opens a WebSocket) and carries only your sign-in cookie,
but it did not come from a page of this environment. Development environments share one domain, so the proxy
accepts such requests only from the environment's own pages (any of its ports).</p>${signedInAs(refusal)}
<p>Programs should send the token in <code>Authorization: Bearer</code> or <code>X-Gateway-Token</code> instead.</p>`;
        return response(403, document(403, 'Request from another site refused', body), options);
      }
      const scope =
        refusal.access === 'private' ? "This port is open to the environment's owner only." : "This port is open to members of the environment's organization only.";
      const next = refusal.byCookie
        ? html`${signOutForm(req.host)}<p>Then open the address again with a token that may use it.</p>`
        : html`<p>Send a token for a person this port is open to.</p>`;
      return response(403, document(403, `${req.host} is not open to you`, html`${signedInAs(refusal)}<p>${scope}</p>${next}`), options);
    }
  }
}

/** The answer to `/.gateway/sign-out`: the token cookie cleared, and a way back. */
export function signOutResponse(req: PageRequest): string {
  const body = html`<p>The access token cookie for <b>${req.host}</b> is cleared in this browser.</p>
<p><a href="/">Open ${req.host} again</a> with a token when you need it.</p>`;
  return response(200, document(200, 'Signed out', body), { close: req.close, head: req.head, extraHeaders: [`Set-Cookie: ${CLEAR_TOKEN_COOKIE}`] });
}
