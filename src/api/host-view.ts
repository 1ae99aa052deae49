import { certificateGroups } from '../mesh/roles';
import type { HostRecord } from '../store';

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
    ...(host.lastSeenAt ? { lastSeenAt: host.lastSeenAt } : {}),
    ...(host.agentVersion ? { agentVersion: host.agentVersion } : {}),
    ...(host.nebulaVersion ? { nebulaVersion: host.nebulaVersion } : {}),
    ...(host.role === 'environment' ? { ports: host.ports ?? [] } : {}),
  };
}
