import { DEFAULT_KEY_PATH, renderNebulaConfig } from '../mesh/config';
import type { HostRecord } from '../store';
import { etagOf } from './etag';
import { blocklistAt, type NetworkView } from './network-view';

/** The body of `GET /v1/hosts/{id}/config` and of renew. */
export interface HostConfigBody {
  readonly hostId: string;
  readonly certificate: string;
  readonly ca: string;
  readonly config: string;
  readonly expiresAt: string;
}

export interface RenderedConfig {
  readonly body: HostConfigBody;
  readonly json: string;
  readonly etag: string;
  /** When the config changes by itself (a blocklisted certificate expires). */
  readonly nextExpiry?: Date;
}

/** The host's complete nebula config as of `view` and `now`, with its ETag (a hash of the body). */
export function renderHostConfig(host: HostRecord, view: NetworkView, now: Date): RenderedConfig {
  if (!host.certificate || !host.certificateExpiresAt) throw new Error(`host ${host.id} has no certificate yet`);
  const blocklist = blocklistAt(view, now);
  const config = renderNebulaConfig({
    role: host.role,
    ca: view.caBundle,
    certificate: host.certificate,
    keyPath: DEFAULT_KEY_PATH,
    lighthouses: view.lighthouses.filter((l) => l.hostId !== host.id).map((l) => ({ ip: l.ip, endpoints: [...l.endpoints] })),
    endpoints: host.endpoints,
    blocklist: blocklist.fingerprints,
    policy: view.policy,
  });
  const body: HostConfigBody = {
    hostId: host.id,
    certificate: host.certificate,
    ca: view.caBundle,
    config,
    expiresAt: host.certificateExpiresAt,
  };
  const json = JSON.stringify(body);
  return { body, json, etag: etagOf(json), nextExpiry: blocklist.nextExpiry };
}
