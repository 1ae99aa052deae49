/** The proxy's own answers: small HTML pages for errors, and redirects. Pure string building. */

const REASONS: Record<number, string> = {
  302: 'Found',
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  408: 'Request Timeout',
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

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ESCAPES[c]);
}

/** A small, self-contained HTML page saying what went wrong and what to do. */
export function errorPage(status: number, message: string): string {
  const title = `${status} ${reasonPhrase(status)}`;
  return (
    `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${title}</title>` +
    '<meta name="viewport" content="width=device-width,initial-scale=1">' +
    '<style>body{font:16px/1.5 system-ui,sans-serif;max-width:36rem;margin:4rem auto;padding:0 1rem;color:#222}' +
    'h1{font-size:1.4rem}p{color:#555}</style></head>' +
    `<body><h1>${title}</h1><p>${escapeHtml(message)}</p><p><small>nebula-gateway proxy</small></p></body></html>\n`
  );
}

/** A complete HTTP/1.1 response with an HTML body (`HEAD` gets the head only). */
export function htmlResponse(status: number, message: string, options: { close: boolean; head?: boolean; extraHeaders?: string[] }): string {
  const body = errorPage(status, message);
  return (
    `HTTP/1.1 ${status} ${reasonPhrase(status)}\r\n` +
    'Content-Type: text/html; charset=utf-8\r\n' +
    `Content-Length: ${Buffer.byteLength(body)}\r\n` +
    'Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n' +
    (options.extraHeaders ?? []).map((h) => `${h}\r\n`).join('') +
    (options.close ? 'Connection: close\r\n' : '') +
    '\r\n' +
    (options.head ? '' : body)
  );
}

/** A 302 to `location` that also sets `setCookie`. */
export function redirectResponse(location: string, setCookie: string, close: boolean): string {
  return (
    `HTTP/1.1 302 Found\r\nLocation: ${location}\r\nSet-Cookie: ${setCookie}\r\n` +
    'Cache-Control: no-store\r\nReferrer-Policy: no-referrer\r\nContent-Length: 0\r\n' +
    (close ? 'Connection: close\r\n' : '') +
    '\r\n'
  );
}
