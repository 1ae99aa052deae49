/** The Host header cannot name this API in a script (not a host name or address with an optional port). */
export class ApiUrlError extends Error {
  override readonly name = 'ApiUrlError';
}

const HOST = /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*|\[[0-9A-Fa-f:.]{2,45}\])(?::[0-9]{1,5})?$/;

/**
 * The API URL a bootstrap script pins: the configured public URL, else the one the request was
 * made to: its Host header (checked: it ends up in a shell script) and `https` only when a TLS
 * proxy in front says so (`X-Forwarded-Proto: https`; the gateway itself serves plain HTTP), so
 * a header can upgrade the scheme but never downgrade a configured https URL. Pure.
 */
export function bootstrapApiUrl(headers: Readonly<Record<string, string | undefined>>, configured?: string): string {
  if (configured) return configured.replace(/\/+$/, '');
  const host = headers.host;
  if (!host || host.length > 260 || !HOST.test(host)) throw new ApiUrlError('the Host header must be a host name or address with an optional port');
  const proto = headers['x-forwarded-proto']?.split(',')[0].trim().toLowerCase();
  return `${proto === 'https' ? 'https' : 'http'}://${host}`;
}
