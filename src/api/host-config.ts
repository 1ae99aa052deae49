import { createHash } from 'node:crypto';
import { certificateGroups, DEFAULT_KEY_PATH, renderNebulaConfig } from '../mesh';
import type { HostRecord } from '../store';
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

export function etagOf(text: string): string {
  return `"${createHash('sha256').update(text).digest('base64url')}"`;
}

/** Whether an `If-None-Match` header value matches `etag` (weak comparison, lists and `*`). */
export function ifNoneMatchMatches(header: string | undefined, etag: string): boolean {
  if (!header) return false;
  return header.split(',').some((tag) => {
    const t = tag.trim();
    return t === '*' || t.replace(/^W\//, '') === etag;
  });
}

/** A host's certificate groups: its role first, then its free groups. */
export function groupsOf(host: Pick<HostRecord, 'role' | 'groups'>): string[] {
  return certificateGroups(host.role, host.groups);
}

/** A host as the API shows it: no hashes, no certificate body. */
export function publicHost(host: HostRecord) {
  return {
    id: host.id,
    name: host.name,
    role: host.role,
    ip: host.ip,
    groups: host.groups,
    status: host.status,
    createdAt: host.createdAt,
    ...(host.endpoints ? { endpoints: host.endpoints } : {}),
    ...(host.enrolledAt ? { enrolledAt: host.enrolledAt } : {}),
    ...(host.certificateFingerprint ? { certificateFingerprint: host.certificateFingerprint } : {}),
    ...(host.certificateExpiresAt ? { certificateExpiresAt: host.certificateExpiresAt } : {}),
    ...(host.revokedAt ? { revokedAt: host.revokedAt } : {}),
    ...(host.instanceId ? { instanceId: host.instanceId } : {}),
    ...(host.owner ? { owner: host.owner } : {}),
    ...(host.role === 'environment' ? { ports: host.ports ?? [] } : {}),
  };
}
