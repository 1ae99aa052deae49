/** An API URL this client will not use; the message says why. */
export class ApiUrlError extends Error {
  override readonly name = 'ApiUrlError';
}

const LOOPBACK_HOST = /^(?:127(?:\.\d{1,3}){3}|\[::1\]|localhost)$/;
const EXECUTE_API_HOST = /^[a-z0-9]+\.execute-api\.([a-z]{2}(?:-[a-z]+)+-\d+)\.amazonaws\.com(?:\.cn)?$/;

/**
 * The API's base URL (an API Gateway stage URL keeps its path): https, or plain http to a loopback
 * address only, since the admin token or a signed request would otherwise cross a network in clear.
 * No user info, query or fragment.
 */
export function parseApiUrl(text: string): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new ApiUrlError(`'${text}' is not a URL`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new ApiUrlError(`${url.protocol} is not http or https`);
  if (url.protocol === 'http:' && !LOOPBACK_HOST.test(url.hostname)) {
    throw new ApiUrlError(`plain http is only for a gateway on this machine (127.0.0.1, ::1, localhost); use https for ${url.hostname}`);
  }
  if (url.username || url.password) throw new ApiUrlError('must not carry a user name or password');
  if (url.search || url.hash) throw new ApiUrlError('must not have a query or fragment');
  return url;
}

/** The region of an API Gateway default endpoint (`<id>.execute-api.<region>.amazonaws.com`); undefined for any other host. */
export function executeApiRegion(url: URL): string | undefined {
  return EXECUTE_API_HOST.exec(url.hostname)?.[1];
}
