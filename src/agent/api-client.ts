import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { agentUserAgent } from './version';

/** What enroll, renew and config answer with (the API's JSON, as the agent uses it). */
export interface HostMaterial {
  readonly hostId: string;
  /** Host certificate, PEM. */
  readonly certificate: string;
  /** CA bundle, PEM. */
  readonly ca: string;
  /** Nebula config, YAML text (or already parsed). */
  readonly config: unknown;
  /** Certificate notAfter, ISO 8601. */
  readonly expiresAt: string;
  /** Where to watch the config (the gateway server's long-poll); absent: poll the API slowly. */
  readonly watchUrl?: string;
}

/** The media type of a config delta (the API's `config-delta.ts`). */
export const CONFIG_DELTA_TYPE = 'application/vnd.nebula-gateway.config-delta+json';

/** The blocklist changes that turn the config tagged `from` into the one tagged `to`. */
export interface ConfigDelta {
  readonly from: string;
  readonly to: string;
  readonly blocklist: { readonly add: readonly string[]; readonly remove: readonly string[] };
}

export interface EnrollResult extends HostMaterial {
  /** The host credential (`gwh_…`): a secret, stored 0600, never logged. */
  readonly credential: string;
}

export type ConfigPoll =
  | { readonly changed: true; readonly material: HostMaterial; readonly etag?: string }
  | { readonly changed: true; readonly delta: ConfigDelta; readonly etag: string }
  | { readonly changed: false };

/** The API answered with an error status, or with a body the agent cannot use. */
export class ApiError extends Error {
  override readonly name = 'ApiError';
  constructor(
    readonly status: number,
    readonly problemTitle: string,
    detail: string,
  ) {
    super(`API answered ${status} ${problemTitle}${detail ? `: ${detail}` : ''}`);
  }
  /** 5xx and 429; also a success whose body was unusable (a broken answer, not a refusal). */
  get retriable(): boolean {
    return this.status >= 500 || this.status === 429 || (this.status >= 200 && this.status < 300);
  }
}

/** The API could not be reached or did not answer in time. Always worth retrying. */
export class ApiUnreachableError extends Error {
  override readonly name = 'ApiUnreachableError';
  readonly retriable = true;
}

export interface ApiClientOptions {
  /** Base URL, e.g. `https://gateway.example.com` or `http://198.18.0.1:8080`. */
  readonly baseUrl: string;
  /** Extra CA certificates (PEM) trusted for an https API. */
  readonly caPem?: string;
  /** Time allowed for a plain request. @default 15000 */
  readonly timeoutMs?: number;
  /**
   * The nebula binary the agent runs: its version goes in the User-Agent of every call
   * (`gateway-agent/<version> nebula/<version>`), which the API records on the host.
   * @default none: the User-Agent names the agent alone
   */
  readonly nebulaBinary?: string;
}

/** The three calls the agent makes to the gateway's HTTP API (CONTRACTS.md). */
export class ApiClient {
  private readonly base: URL;
  private readonly userAgent: string;
  constructor(private readonly options: ApiClientOptions) {
    this.base = new URL(options.baseUrl);
    this.userAgent = agentUserAgent(options.nebulaBinary);
    if (this.base.protocol !== 'http:' && this.base.protocol !== 'https:') throw new Error(`API URL must be http or https: ${options.baseUrl}`);
    // API paths resolve below the base path, so an API Gateway stage (`…/api`) is kept.
    if (!this.base.pathname.endsWith('/')) this.base.pathname += '/';
  }

  async enroll(token: string, publicKeyPem: string, signal?: AbortSignal): Promise<EnrollResult> {
    const res = await this.call('POST', '/v1/enroll', { body: { token, publicKey: publicKeyPem }, signal });
    return expectMaterial(res, true) as EnrollResult;
  }

  /** A new certificate, for `publicKeyPem` when given (a key rotation), else for the host's current key. */
  async renew(hostId: string, credential: string, signal?: AbortSignal, publicKeyPem?: string): Promise<HostMaterial> {
    const res = await this.call('POST', `/v1/hosts/${encodeURIComponent(hostId)}/renew`, { credential, body: publicKeyPem ? { publicKey: publicKeyPem } : {}, signal });
    return expectMaterial(res, false);
  }

  /** Tells the API nebula runs on the certificate `fingerprint`: the host's other certificates are blocklisted. Returns those. */
  async certificateInUse(hostId: string, credential: string, fingerprint: string, signal?: AbortSignal): Promise<string[]> {
    const res = await this.call('POST', `/v1/hosts/${encodeURIComponent(hostId)}/certificate-in-use`, { credential, body: { fingerprint }, signal });
    if (res.status !== 200) throw problem(res);
    try {
      const retired = (JSON.parse(res.body) as { retired?: unknown }).retired;
      if (Array.isArray(retired) && retired.every((f) => typeof f === 'string')) return retired as string[];
    } catch {
      // an unusable body is reported below
    }
    throw new ApiError(res.status, 'incomplete answer', 'missing retired');
  }

  /**
   * Fetches the host's config. With `etag` and `waitSeconds` the server holds the request until
   * the config changes or the wait ends (then `changed: false`). With `etag` the answer may be a
   * delta from the config with that tag (the server sends one only when asked: always here).
   */
  async config(hostId: string, credential: string, opts: { etag?: string; waitSeconds?: number; signal?: AbortSignal } = {}): Promise<ConfigPoll> {
    const query = opts.waitSeconds ? `?wait=${opts.waitSeconds}` : '';
    const res = await this.call('GET', `/v1/hosts/${encodeURIComponent(hostId)}/config${query}`, {
      credential,
      headers: { accept: `${CONFIG_DELTA_TYPE}, application/json`, ...(opts.etag ? { 'if-none-match': opts.etag } : {}) },
      signal: opts.signal,
      timeoutMs: ((opts.waitSeconds ?? 0) * 1000) + (this.options.timeoutMs ?? 15_000),
    });
    if (res.status === 304) return { changed: false };
    if (res.status === 200 && res.contentType === CONFIG_DELTA_TYPE) return { changed: true, delta: expectDelta(res), etag: res.etag ?? '' };
    return { changed: true, material: expectMaterial(res, false), etag: res.etag };
  }

  private call(
    method: string,
    path: string,
    opts: { credential?: string; body?: unknown; headers?: Record<string, string>; signal?: AbortSignal; timeoutMs?: number },
  ): Promise<{ status: number; body: string; etag?: string; contentType?: string }> {
    const url = new URL(path.replace(/^\//, ''), this.base);
    const payload = opts.body === undefined ? undefined : Buffer.from(JSON.stringify(opts.body));
    const headers: Record<string, string> = { accept: 'application/json', 'user-agent': this.userAgent, ...opts.headers };
    if (payload) Object.assign(headers, { 'content-type': 'application/json', 'content-length': String(payload.length) });
    if (opts.credential) headers.authorization = `Bearer ${opts.credential}`;
    const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
    return new Promise((resolve, reject) => {
      const req = send(url, { method, headers, ca: this.options.caPem, signal: opts.signal, timeout: opts.timeoutMs ?? this.options.timeoutMs ?? 15_000 }, (res: IncomingMessage) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', (err) => reject(new ApiUnreachableError(`${method} ${url.pathname}: ${err.message}`)));
        res.on('end', () => {
          const etag = res.headers.etag;
          const contentType = res.headers['content-type']?.split(';')[0].trim().toLowerCase();
          resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8'), etag: typeof etag === 'string' ? etag : undefined, contentType });
        });
      });
      req.on('timeout', () => req.destroy(new Error('timed out')));
      req.on('error', (err) => {
        if (opts.signal?.aborted) reject(err);
        else reject(new ApiUnreachableError(`${method} ${url.pathname}: ${err.message}`));
      });
      req.end(payload);
    });
  }
}

function expectMaterial(res: { status: number; body: string }, withCredential: boolean): HostMaterial {
  if (res.status < 200 || res.status > 299) throw problem(res);
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(res.body) as Record<string, unknown>;
  } catch {
    throw new ApiError(res.status, 'invalid JSON', 'the API answered with a body that is not JSON');
  }
  const missing = ['hostId', 'certificate', 'ca', 'config', 'expiresAt', ...(withCredential ? ['credential'] : [])].filter((k) => json[k] === undefined || json[k] === null);
  if (missing.length > 0) throw new ApiError(res.status, 'incomplete answer', `missing ${missing.join(', ')}`);
  return json as unknown as HostMaterial;
}

const FINGERPRINT = /^[0-9a-f]{64}$/;

/** A delta as the API sends it: two tags and lists of fingerprints; anything else is refused whole. */
function expectDelta(res: { status: number; body: string; etag?: string }): ConfigDelta {
  let json: Partial<ConfigDelta>;
  try {
    json = JSON.parse(res.body) as Partial<ConfigDelta>;
  } catch {
    throw new ApiError(res.status, 'invalid JSON', 'the API answered with a config delta that is not JSON');
  }
  const list = (value: unknown) => Array.isArray(value) && value.every((f) => typeof f === 'string' && FINGERPRINT.test(f));
  if (typeof json.from !== 'string' || typeof json.to !== 'string' || json.to !== res.etag || !list(json.blocklist?.add) || !list(json.blocklist?.remove)) {
    throw new ApiError(res.status, 'incomplete answer', 'the config delta is malformed');
  }
  return json as ConfigDelta;
}

function problem(res: { status: number; body: string }): ApiError {
  try {
    const json = JSON.parse(res.body) as { title?: string; detail?: string };
    return new ApiError(res.status, json.title ?? 'error', json.detail ?? '');
  } catch {
    return new ApiError(res.status, 'error', '');
  }
}
