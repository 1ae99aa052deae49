import type { Signer } from '../pki/signer';
import type { GatewayStore } from '../store';
import type { AdminRole } from './admin-roles';
import type { ChangeFeed } from './change-feed';

/** Tunables of the API; every one has a default. */
export interface ApiSettings {
  /** Lifetime of host certificates. @default 24 h */
  readonly certificateLifetimeSeconds: number;
  /** How long an enrollment token stays valid. @default 1 h */
  readonly enrollmentTokenTtlSeconds: number;
  /** Larger request bodies get 413. @default 64 KiB */
  readonly maxBodyBytes: number;
  /**
   * How often long-polls re-read the network's config version (other instances' changes), and how
   * long a confirmed version is trusted. 500 ms keeps a change made elsewhere within 1 s of every
   * watcher (poll, read, fan-out); see src/api/README.md for its cost. @default 500
   */
  readonly versionPollIntervalMs: number;
  /** A freed address stays quarantined at least this long, besides its certificates' remaining life. @default 0 */
  readonly minQuarantineSeconds: number;
  /**
   * The longest `?wait=` a config request is held. Lambda sets 0 (answers at once: watches belong
   * to the gateway server, and a held request would keep a function busy). @default 60
   */
  readonly longPollMaxSeconds: number;
  /**
   * Where agents watch their config (the gateway server's long-poll), told in enroll, renew and
   * config answers; none: agents poll the API slowly. @default none
   */
  readonly watchUrl?: string;
  /**
   * The API's URL as environments reach it, pinned in `GET /v1/bootstrap`'s script (Lambda: the
   * stage's URL, from GATEWAY_API_URL). @default the URL the request was made to (Host header)
   */
  readonly publicUrl?: string;
  /**
   * The agent bundle `GET /v1/agent/...` serves (src/bootstrap). @default gateway-agent.js beside
   * the gateway's code (Lambda asset, container), else the checkout's dist/agent/ (npm run build)
   */
  readonly agentBundlePath?: string;
  /** Blocklist states kept in memory to answer config deltas from; an older state gets the full config. @default 64 */
  readonly blocklistHistory: number;
}

export const DEFAULT_API_SETTINGS: ApiSettings = {
  certificateLifetimeSeconds: 24 * 3600,
  enrollmentTokenTtlSeconds: 3600,
  maxBodyBytes: 64 * 1024,
  versionPollIntervalMs: 500,
  minQuarantineSeconds: 0,
  longPollMaxSeconds: 60,
  blocklistHistory: 64,
};

/**
 * Checks that an EC2 instance belongs to the fleet of `role` (lighthouse, proxy or egress) and returns its
 * addresses. Throws NodeVerificationError (`ec2-node-verifier.ts`) when the instance is not in
 * the fleet; any other error means the check itself failed (503).
 */
export interface NodeVerifier {
  verify(instanceId: string, role: 'lighthouse' | 'proxy' | 'egress'): Promise<{ publicIp?: string; privateIp?: string }>;
}

/** Somewhere to report what the API did; never given a secret. */
export interface ApiLogger {
  info(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

/** A next CA key made on demand (a local file): starting a CA rotation calls `prepare()` first. */
export interface PreparableSigner extends Signer {
  prepare(): Promise<void>;
}

export interface ApiDependencies {
  readonly store: GatewayStore;
  /** Holds the CA key; its public key picks the signing CA out of the network's CA bundle. */
  readonly signer: Signer;
  /**
   * The next CA key (a second KMS key, or a key file beside the first): a CA rotation's new CA is
   * self-signed by it and signs certificates from its `signing` phase on. Without it, starting a
   * rotation answers 409 naming what to configure.
   */
  readonly nextSigner?: Signer;
  /** SHA-256 (hex) of the admin token (local mode). Without it, only an admin role's `request.iam` is admin. */
  readonly adminTokenHash?: string;
  /** The IAM roles whose callers (`request.iam`) are admins; none: no IAM caller is. */
  readonly adminRoles?: readonly AdminRole[];
  readonly nodeVerifier?: NodeVerifier;
  /**
   * Signs the proxies' access tokens: an Ed25519 key that is not the CA's (a local file, or a
   * second KMS key). Without it, `POST /v1/access-tokens` answers 501 and `GET /v1/network` has
   * no `accessTokenPublicKey`.
   */
  readonly tokenSigner?: Signer;
  readonly settings?: Partial<ApiSettings>;
  /** Injectable clock (tests). @default () => new Date() */
  readonly clock?: () => Date;
  /** In-process change notifications; one is made when absent. */
  readonly changeFeed?: ChangeFeed;
  /** The same for the route table (woken by port changes); one is made when absent. */
  readonly routesFeed?: ChangeFeed;
  readonly logger?: ApiLogger;
}

/** A watch URL is not an absolute http(s) URL; `source` names where it came from (a flag or variable). */
export class WatchUrlError extends Error {
  override readonly name = 'WatchUrlError';
}

/** The watch URL as agents will be told it: absolute http(s), no credentials, query or fragment. */
export function checkWatchUrl(value: string, source: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch (cause) {
    throw new WatchUrlError(`${source} must be an absolute http(s) URL`, { cause });
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new WatchUrlError(`${source} must be an http(s) URL, not ${url.protocol}`);
  if (url.username || url.password || url.search || url.hash) throw new WatchUrlError(`${source} must carry no credentials, query or fragment`);
  return url.toString().replace(/\/$/, '');
}
