import { DEFAULT_KEY_PATH, renderNebulaConfig } from '../mesh/config';
import { environmentUnsafeRoutes } from '../mesh/egress-choice';
import type { HostRecord } from '../store';
import { type ConfigTag, configEtag, contentPart } from './etag';
import { type Blocklist, blocklistOf, type NetworkView } from './network-view';

/** The body of `GET /v1/hosts/{id}/config`, of renew and of enroll (which adds the credential). */
export interface HostConfigBody {
  readonly hostId: string;
  readonly certificate: string;
  readonly ca: string;
  readonly config: string;
  readonly expiresAt: string;
  /** Where the agent watches its config (the gateway server's long-poll); absent: it polls the API. */
  readonly watchUrl?: string;
}

export interface RenderedConfig {
  readonly body: HostConfigBody;
  readonly json: string;
  readonly etag: string;
  /** When the config changes by itself (a blocklisted certificate expires). */
  readonly nextExpiry?: Date;
}

/**
 * Bumped when rendering changes for the same inputs, so that configs rendered by a newer release
 * get new ETags and watchers fetch them.
 */
const RENDER_FORMAT = 2;

/**
 * The ETag parts of `host`'s config without rendering it: the host part hashes every input of the
 * config but the blocklist (cheap enough to compute for thousands of watchers on each change).
 */
export function configTag(host: HostRecord, view: NetworkView, blocklist: Blocklist, watchUrl: string | undefined): ConfigTag {
  const inputs = [RENDER_FORMAT, view.shape, host.id, host.role, host.certificate, host.certificateExpiresAt, host.endpoints ?? null, watchUrl ?? null];
  return { hostPart: contentPart(JSON.stringify(inputs)), blocklistPart: blocklist.part };
}

/** The host's complete nebula config as of `view` and `now`, with its ETag (see configTag). */
export function renderHostConfig(host: HostRecord, view: NetworkView, now: Date, watchUrl?: string): RenderedConfig {
  return renderHostConfigWith(host, view, blocklistOf(view, now), watchUrl);
}

/** renderHostConfig with the blocklist already computed (NetworkViewCache.blocklist shares it between requests). */
export function renderHostConfigWith(host: HostRecord, view: NetworkView, blocklist: Blocklist, watchUrl: string | undefined): RenderedConfig {
  if (!host.certificate || !host.certificateExpiresAt) throw new Error(`host ${host.id} has no certificate yet`);
  const config = renderNebulaConfig({
    role: host.role,
    ca: view.caBundle,
    certificate: host.certificate,
    keyPath: DEFAULT_KEY_PATH,
    lighthouses: view.lighthouses.filter((l) => l.hostId !== host.id).map((l) => ({ ip: l.ip, endpoints: [...l.endpoints] })),
    endpoints: host.endpoints,
    blocklist: [...blocklist.fingerprints],
    policy: view.policy,
    // Environments route the egress routes through one egress node each; no one else routes them.
    unsafeRoutes: host.role === 'environment' ? environmentUnsafeRoutes(host.id, view.egressRoutes, view.egressNodes) : [],
  });
  const body: HostConfigBody = {
    hostId: host.id,
    certificate: host.certificate,
    ca: view.caBundle,
    config,
    expiresAt: host.certificateExpiresAt,
    ...(watchUrl ? { watchUrl } : {}),
  };
  const json = JSON.stringify(body);
  return { body, json, etag: configEtag(configTag(host, view, blocklist, watchUrl)), nextExpiry: blocklist.nextExpiry };
}
