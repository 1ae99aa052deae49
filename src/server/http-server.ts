import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { type ApiHandler, type ApiRequest, type ApiResponse, DEFAULT_API_SETTINGS, payloadTooLarge } from '../api';

/**
 * Node's HTTP server in front of the transport-independent API: streams the body with a size
 * limit (413 as soon as it is exceeded), aborts a long-poll when its client goes away, and keeps
 * connections alive between requests. Never sets `iam`: plain HTTP carries no verified AWS identity.
 */
export function createHttpServer(api: ApiHandler, options: { readonly maxBodyBytes: number; readonly longPollMaxSeconds?: number }): Server {
  const timeouts = httpServerTimeouts(options.longPollMaxSeconds ?? DEFAULT_API_SETTINGS.longPollMaxSeconds);
  const server = createServer({ connectionsCheckingInterval: timeouts.checkIntervalMs }, (req, res) => void serve(api, options.maxBodyBytes, req, res));
  server.keepAliveTimeout = timeouts.keepAliveMs;
  server.headersTimeout = timeouts.headersMs;
  server.requestTimeout = timeouts.requestMs;
  return server;
}

/**
 * Node's HTTP timeouts around the longest long-poll (60 s by default: 65 s, 66 s, 120 s), so that
 * a request held for its whole wait is never cut and its connection serves the next request; an
 * idle keep-alive connection stays a little longer than a poll. Node checks the header and request
 * timeouts every `checkIntervalMs` (its default, 30 s, or a quarter of a shorter wait, so that a
 * short wait is checked too).
 */
export function httpServerTimeouts(longPollMaxSeconds: number): { keepAliveMs: number; headersMs: number; requestMs: number; checkIntervalMs: number } {
  const waitMs = longPollMaxSeconds * 1000;
  return { keepAliveMs: waitMs + 5_000, headersMs: waitMs + 6_000, requestMs: waitMs + 60_000, checkIntervalMs: Math.min(30_000, Math.max(250, waitMs / 4)) };
}

async function serve(api: ApiHandler, maxBodyBytes: number, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const controller = new AbortController();
  res.on('close', () => {
    if (!res.writableFinished) controller.abort();
  });
  try {
    const body = await readBody(req, maxBodyBytes);
    if (body === undefined) {
      send(res, payloadTooLarge(maxBodyBytes), true);
      req.resume();
      return;
    }
    const url = new URL(req.url ?? '/', 'http://gateway.invalid');
    const query: Record<string, string> = {};
    for (const [key, value] of url.searchParams) if (!(key in query)) query[key] = value;
    const headers: Record<string, string> = {};
    for (const [key, value] of Object.entries(req.headers)) {
      if (value !== undefined) headers[key] = Array.isArray(value) ? value.join(', ') : value;
    }
    const request: ApiRequest = { method: (req.method ?? 'GET').toUpperCase(), path: url.pathname, headers, query, body, signal: controller.signal };
    const response = await api(request);
    if (!res.destroyed) send(res, response, false);
  } catch {
    if (!res.headersSent && !res.destroyed) {
      send(res, { status: 400, headers: { 'content-type': 'text/plain' }, body: 'bad request\n' }, true);
    }
  }
}

/** The whole body, or undefined once it grows past `maxBytes` (reading stops there). */
function readBody(req: IncomingMessage, maxBytes: number): Promise<Buffer | undefined> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > maxBytes) return Promise.resolve(undefined);
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBytes) {
        req.off('data', onData);
        resolve(undefined);
        return;
      }
      chunks.push(chunk);
    };
    req.on('data', onData);
    req.once('end', () => resolve(Buffer.concat(chunks)));
    req.once('error', reject);
  });
}

function send(res: ServerResponse, response: ApiResponse, close: boolean): void {
  const headers: Record<string, string | number> = { ...response.headers };
  if (close) headers.connection = 'close';
  if (response.status !== 304 && response.status !== 204) headers['content-length'] = Buffer.byteLength(response.body);
  res.writeHead(response.status, headers);
  res.end(response.status === 304 || response.status === 204 ? undefined : response.body);
}
