import { apiErrorOf, GatewayRequestError } from './errors';
import type { RequestAuth } from './request-auth';

export type Role = 'environment' | 'lighthouse' | 'proxy' | 'egress';
export type AccessLevel = 'private' | 'organization' | 'public';
export type UpstreamProtocol = 'http' | 'https';

export interface Principal {
  readonly subject: string;
  readonly organization: string;
}

/** `POST /v1/hosts`'s body. */
export interface CreateHostInput {
  readonly name: string;
  readonly role: Role;
  readonly groups?: readonly string[];
  readonly ip?: string;
  readonly endpoints?: readonly string[];
  readonly owner?: Principal;
}

export interface PortRoute {
  readonly port: number;
  readonly access: AccessLevel;
  readonly protocol: UpstreamProtocol;
}

/** A host as the API shows it (`src/api/host-view.ts`). */
export interface Host {
  readonly id: string;
  readonly name: string;
  readonly role: Role;
  readonly ip: string;
  readonly groups: readonly string[];
  readonly status: string;
  readonly createdAt: string;
  readonly endpoints?: readonly string[];
  readonly enrolledAt?: string;
  readonly certificateFingerprint?: string;
  readonly certificateExpiresAt?: string;
  readonly revokedAt?: string;
  readonly instanceId?: string;
  readonly owner?: Principal;
  readonly ports?: readonly PortRoute[];
  /** When the host's agent last called the API (recorded at most every 10 minutes), and the versions it named. */
  readonly lastSeenAt?: string;
  readonly agentVersion?: string;
  readonly nebulaVersion?: string;
}

export interface CreatedHost {
  readonly host: Host;
  /** The one-time enrollment token: the API shows it only in this answer. */
  readonly enrollment: { readonly token: string; readonly expiresAt: string };
}

/** One allowed egress destination (`src/mesh/egress-policy.ts`). */
export interface EgressRule {
  readonly cidr: string;
  readonly proto: 'tcp' | 'udp' | 'any';
  readonly ports: string;
}

/** `GET/PUT /v1/egress-policies/{organization}`'s answer; revision 0: never set. */
export interface EgressPolicy {
  readonly organization: string;
  readonly rules: readonly EgressRule[];
  readonly revision: number;
  readonly updatedAt?: string;
}

export interface AccessToken {
  readonly token: string;
  readonly expiresAt: string;
}

/** A CA rotation as `GET /v1/network` shows it (`caRotation`). */
export interface CaRotationStatus {
  readonly phase: 'idle' | 'distributing' | 'signing' | 'retiring-old';
  readonly startedAt?: string;
  readonly distributeSeconds?: number;
  readonly newCa?: { readonly fingerprint: string; readonly notAfter: string };
  readonly oldCa?: { readonly fingerprint: string; readonly notAfter: string };
  readonly bundleSince?: string;
  readonly hostsHoldingBundle?: number;
  readonly hostsTotal?: number;
  readonly signingSince?: string;
  readonly oldCaRetiresAt?: string;
  readonly lastCompletedAt?: string;
}

/** The CA's expiry as `GET /v1/network` shows it (`caExpiry`). */
export interface CaExpiryStatus {
  readonly notAfter: string;
  readonly daysLeft: number;
  readonly warning: 'ok' | '30d' | '7d' | 'expired';
}

export interface AdminClientOptions {
  /** The API's base URL (see api-url.ts); a stage path such as `/api` is kept. */
  readonly api: URL;
  readonly auth: RequestAuth;
}

/**
 * The gateway's admin routes. Every method resolves to the API's answer or rejects with
 * GatewayApiError (the API refused: status, title, detail, fields) or GatewayRequestError (no answer).
 */
export class AdminClient {
  constructor(private readonly options: AdminClientOptions) {}

  createHost(input: CreateHostInput): Promise<CreatedHost> {
    return this.call('POST', '/v1/hosts', { body: input });
  }

  /** Every host (all pages), optionally of one role. */
  async listHosts(options: { role?: Role } = {}): Promise<Host[]> {
    const hosts: Host[] = [];
    let cursor: string | undefined;
    do {
      const query = { ...(options.role ? { role: options.role } : {}), ...(cursor ? { cursor } : {}) };
      const page = await this.call<{ hosts: Host[]; nextCursor?: string }>('GET', '/v1/hosts', { query });
      hosts.push(...page.hosts);
      cursor = page.nextCursor;
    } while (cursor);
    return hosts;
  }

  async getHost(id: string): Promise<Host> {
    return (await this.call<{ host: Host }>('GET', `/v1/hosts/${encodeURIComponent(id)}`)).host;
  }

  /** Revokes the host; its certificates are blocklisted on every node. */
  async revokeHost(id: string): Promise<Host> {
    return (await this.call<{ host: Host }>('DELETE', `/v1/hosts/${encodeURIComponent(id)}`)).host;
  }

  /** Sets an environment's owner (who may reach its `private` ports). */
  async setOwner(id: string, owner: Principal): Promise<Host> {
    return (await this.call<{ host: Host }>('PATCH', `/v1/hosts/${encodeURIComponent(id)}`, { body: { owner } })).host;
  }

  setPort(id: string, port: number, input: { access: AccessLevel; protocol?: UpstreamProtocol }): Promise<PortRoute> {
    return this.call('PUT', `/v1/hosts/${encodeURIComponent(id)}/ports/${port}`, { body: input });
  }

  async deletePort(id: string, port: number): Promise<void> {
    await this.call('DELETE', `/v1/hosts/${encodeURIComponent(id)}/ports/${port}`);
  }

  getEgressPolicy(organization: string): Promise<EgressPolicy> {
    return this.call('GET', `/v1/egress-policies/${encodeURIComponent(organization)}`);
  }

  /** Replaces an organisation's egress rules; with `ifRevision`, only if the policy is still at that revision. */
  setEgressPolicy(organization: string, rules: readonly EgressRule[], options: { ifRevision?: number } = {}): Promise<EgressPolicy> {
    const headers = options.ifRevision === undefined ? undefined : { 'if-match': `"${options.ifRevision}"` };
    return this.call('PUT', `/v1/egress-policies/${encodeURIComponent(organization)}`, { body: { rules }, headers });
  }

  setEgressRoutes(routes: readonly string[]): Promise<{ egressRoutes: string[] }> {
    return this.call('PUT', '/v1/network/egress-routes', { body: { routes } });
  }

  createAccessToken(input: Principal & { ttlSeconds?: number }): Promise<AccessToken> {
    return this.call('POST', '/v1/access-tokens', { body: input });
  }

  /** `POST /v1/network/ca-rotation`: starts a CA rotation (docs/ca-rotation.md). */
  startCaRotation(input: { distributeSeconds?: number }): Promise<{ caRotation: CaRotationStatus }> {
    return this.call('POST', '/v1/network/ca-rotation', { body: input });
  }

  /** `GET /v1/network`: the CA rotation and the CA's expiry among the network's public facts. */
  getNetwork(): Promise<{ caFingerprints: string[]; caRotation: CaRotationStatus; caExpiry: CaExpiryStatus }> {
    return this.call('GET', '/v1/network');
  }

  private async call<T>(method: string, path: string, options: { query?: Record<string, string>; body?: unknown; headers?: Record<string, string> } = {}): Promise<T> {
    const base = this.options.api;
    const url = new URL(`${base.pathname.replace(/\/+$/, '')}${path}`, base);
    for (const [name, value] of Object.entries(options.query ?? {})) url.searchParams.set(name, value);
    const body = options.body === undefined ? undefined : JSON.stringify(options.body);
    const headers = await this.options.auth.authenticate({
      method,
      url,
      headers: { accept: 'application/json', ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...options.headers },
      body,
    });
    let response: Response;
    try {
      // An admin API never redirects: following one could carry the credentials elsewhere.
      response = await fetch(url, { method, headers, body, redirect: 'error' });
    } catch (err) {
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      throw new GatewayRequestError(`${method} ${url.origin}${url.pathname}: ${cause?.code ?? cause?.message ?? (err as Error).message}`, { cause: err });
    }
    const text = await response.text();
    if (!response.ok) throw apiErrorOf(response.status, response.statusText, response.headers.get('content-type') ?? '', text);
    if (text === '') return undefined as T;
    try {
      return JSON.parse(text) as T;
    } catch (err) {
      throw new GatewayRequestError(`${method} ${url.origin}${url.pathname}: the answer is not JSON`, { cause: err });
    }
  }
}
