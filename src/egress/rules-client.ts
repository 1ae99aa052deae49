import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { ApiError, ApiUnreachableError } from '../agent';
import { type EgressFeed, parseEgressFeed } from './feed';

export type RulesPoll =
  | { readonly changed: false }
  /** `json` is the answer as sent: what the node saves, and parses again at a start without the API. */
  | { readonly changed: true; readonly feed: EgressFeed; readonly json: unknown; readonly etag?: string };

export interface RulesClientOptions {
  /** The API base URL from the agent's identity. */
  readonly api: string;
  /** The egress host's id: the API checks the credential belongs to it. */
  readonly hostId: string;
  /** The egress host's credential (the same one its agent uses); sent only as a bearer token. */
  readonly credential: string;
  readonly apiCa?: string;
  /** @default 10000 */
  readonly timeoutMs?: number;
}

/**
 * `GET /v1/egress/rules?host=<id>` as the egress host: `If-None-Match` with the last ETag, so an unchanged
 * policy costs a 304. A feed that fails validation is an ApiError (the node keeps what it has).
 */
export async function fetchEgressRules(options: RulesClientOptions, etag?: string, signal?: AbortSignal): Promise<RulesPoll> {
  const base = new URL(options.api);
  if (!base.pathname.endsWith('/')) base.pathname += '/';
  const url = new URL(`v1/egress/rules?host=${encodeURIComponent(options.hostId)}`, base);
  const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
  const headers: Record<string, string> = { accept: 'application/json', authorization: `Bearer ${options.credential}` };
  if (etag) headers['if-none-match'] = etag;
  const res = await new Promise<{ status: number; body: string; etag?: string }>((resolve, reject) => {
    const req = send(url, { method: 'GET', headers, ca: options.apiCa, signal, timeout: options.timeoutMs ?? 10_000 }, (answer) => {
      const chunks: Buffer[] = [];
      answer.on('data', (c: Buffer) => chunks.push(c));
      answer.on('error', (err) => reject(new ApiUnreachableError(`GET ${url.pathname}: ${err.message}`, { cause: err })));
      answer.on('end', () => {
        const tag = answer.headers.etag;
        resolve({ status: answer.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8'), etag: typeof tag === 'string' ? tag : undefined });
      });
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', (err) => reject(new ApiUnreachableError(`GET ${url.pathname}: ${err.message}`, { cause: err })));
    req.end();
  });
  if (res.status === 304) return { changed: false };
  if (res.status !== 200) {
    let title = 'error';
    try {
      title = (JSON.parse(res.body) as { title?: string }).title ?? title;
    } catch {
      // not a problem document; the status says enough
    }
    throw new ApiError(res.status, title, '');
  }
  let json: unknown;
  try {
    json = JSON.parse(res.body);
  } catch (err) {
    throw new ApiError(res.status, 'invalid JSON', `the egress rules are not JSON: ${(err as Error).message}`);
  }
  try {
    return { changed: true, feed: parseEgressFeed(json), json, etag: res.etag };
  } catch (err) {
    throw new ApiError(res.status, 'invalid egress rules', (err as Error).message);
  }
}
